import { Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode, exitCodesHelp } from '../core/exit-codes.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import { errorText } from '../ui/json-output.js';
import { normalizeArgv, switchGiven } from './argv.js';
import { VERSION } from '../core/version.js';
import type * as Commands from './commands.js';

// The command-line parser only (dist/bundle/cli.cjs): each action asks for the
// commands' code when it runs, so --help never reads listr2 or inquirer.

export type CommandsModule = typeof Commands;
/** Gives the commands' code (the second bundle), read only when a command runs. */
export type LoadCommands = () => CommandsModule;

/** Parses the arguments, runs the command, returns the exit code. */
export async function runCli(args: readonly string[], load: LoadCommands): Promise<number> {
  // `btrfs-vault list | head` closes our stdout early: not an error, and a backup must
  // still finish, clean up and release its locks, so the rest of its output is dropped
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
  const { program, code } = buildProgram(load);
  const argv = normalizeArgv(args);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      if (e.exitCode === 0) return ExitCode.ok; // --help, --version
      // commander printed the error and the usage; say what to do, and keep --json's promise
      const command = commandWords(program, argv);
      const fix = `see: btrfs-vault ${command ? `${command} ` : ''}--help`;
      process.stderr.write(`fix: ${fix}\n`);
      // `help frob`: commander shows the help and says only "(outputHelp)"
      const error =
        e.code === 'commander.help' && argv[0] === 'help' ? `unknown command '${argv[1]}'` : (e.message ?? '');
      if (switchGiven(args, '--json'))
        process.stdout.write(errorText({ error: error.replace(/^error: /, ''), fix, exitCode: ExitCode.usage }));
      return ExitCode.usage;
    }
    return load().reportError(err, { json: switchGiven(args, '--json') });
  }
  return code();
}

/** The command a usage error is about, as its --help is asked for: "restore", "schedule install". */
function commandWords(program: Command, argv: readonly string[]): string {
  const command = program.commands.find((c) => c.name() === argv[0] && c.name() !== 'help');
  if (!command) return '';
  const next = argv.slice(1).find((a) => !a.startsWith('-'));
  const sub = command.commands.find((c) => c.name() === next);
  return sub ? `${command.name()} ${sub.name()}` : command.name();
}

/**
 * The command line, the one source of --help, the man page and the shell completions
 * (scripts/man.mjs walks it). `code` is the exit code of the command that ran.
 */
export function buildProgram(load: LoadCommands): { program: Command; code: () => number } {
  let code: number = ExitCode.ok;
  const program = new Command()
    .name('btrfs-vault')
    .description(
      'Encrypted, mirrored, incremental btrfs backups.\nWith no command, `backup` runs: btrfs-vault / is btrfs-vault backup /.',
    )
    .version(VERSION)
    // before the commands are added: each copies it, so its usage errors exit 2 too, not 1
    .exitOverride((err) => {
      throw err;
    })
    .showHelpAfterError()
    .addHelpText('after', `\n${exitCodesHelp()}`);

  // a source is named the same way by every command (flows/session/source-pick.ts)
  const SOURCE_HELP = 'a configured source, by its path or its name (the folder of its backups)';
  const SOURCES_HELP = 'configured sources, by path or name (default: every configured source)';
  const configOption = () => new Option('--config <file>', 'config file').default(DEFAULT_CONFIG);
  const targetOption = (what: string) =>
    new Option(
      '--target <name>',
      `the backup disk of that name ([targets.<name>]; [target] is "backup"): ${what}`,
    ).argParser(onlyOnce);

  program
    .command('backup')
    .description('snapshot the sources and send them to the backup filesystem (the default command)')
    .argument('[sources...]', `${SOURCES_HELP}; also a subvolume not configured, by its path`)
    .addOption(configOption())
    .addOption(targetOption('back up to it alone (default: every attached one)'))
    .option('-b, --keep-open', 'leave the backup filesystem (and the stack below it) open afterwards')
    .option('-S, --sources-file', 'back up every path in the sources file beside the config')
    .option('-f, --force', 'a new snapshot and transfer even for a source that has not changed')
    // passed by the units `schedule install` writes, not typed by a person: hidden from
    // --help, where --on-plug would read like schedule install's "install the rule"
    .addOption(
      new Option(
        '--scheduled',
        'run by a timer: without the backup disk, do nothing and exit 0; tell about stale backups',
      ).hideHelp(),
    )
    .addOption(
      new Option(
        '--on-plug',
        'run because the backup disk was plugged in: as --scheduled, and say when it may be unplugged',
      ).hideHelp(),
    )
    .option('-n, --dry-run', 'print every command that would change something; change nothing')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(
      async (
        paths: string[],
        opts: {
          config: string;
          target?: string;
          keepOpen?: boolean;
          sourcesFile?: boolean;
          dryRun?: boolean;
          json?: boolean;
          force?: boolean;
          scheduled?: boolean;
          onPlug?: boolean;
        },
      ) => {
        const c = load();
        const { backupCommand } = await c.commands.backup();
        code = await c.withSignals((signal) => backupCommand(paths, opts, signal));
      },
    );

  program
    .command('list')
    .description('snapshots on each side, pairs, `latest`, incomplete copies')
    .argument('[sources...]', SOURCES_HELP)
    .addOption(configOption())
    .addOption(targetOption('list it alone (default: every attached one)'))
    .option('--json', 'machine-readable output')
    .action(async (sources: string[], opts: { config: string; target?: string; json?: boolean }) => {
      code = await (await load().commands.list()).listCommand(sources, opts);
    });

  program
    .command('status')
    .description(
      'one look at the backups: last backup per source and its age, snapshots on each side, the disk and its mirror, warnings; also with the disk away',
    )
    .addOption(configOption())
    .addOption(targetOption('it alone (default: every one)'))
    .option('--json', 'machine-readable output (the shape is documented in docs/JSON.md)')
    .option('--check', 'exit 1 while any warning stands (for monitoring)')
    .option('--serve-root <dir>', 'on a backup server: every host under this serve root, its newest backup and age')
    .option(
      '--max-age <duration>',
      'with --serve-root: a host whose last backup is older is a warning (36h, 7d, 2w; default 7d)',
    )
    .action(
      async (opts: {
        config: string;
        target?: string;
        json?: boolean;
        check?: boolean;
        serveRoot?: string;
        maxAge?: string;
      }) => {
        code = await (await load().commands.status()).statusCommand(opts);
      },
    );

  program
    .command('verify')
    .description(
      "compare each source's newest backup with its snapshot (tree, metadata, contents of a sample), scrub the backup disk, check the mirror",
    )
    .argument('[sources...]', SOURCES_HELP)
    .addOption(configOption())
    .addOption(targetOption('verify it alone (default: every attached one)'))
    .option('--full', 'compare the contents of every file, not a sample')
    .option('--no-scrub', 'skip the scrub of the backup filesystem and the mirror check')
    .option('--json', 'machine-readable output')
    .action(
      async (
        paths: string[],
        opts: { config: string; target?: string; full?: boolean; scrub: boolean; json?: boolean },
      ) => {
        const c = load();
        const { verifyCommand } = await c.commands.verify();
        code = await c.withSignals((signal) => verifyCommand(paths, opts, signal));
      },
    );

  program
    .command('restore')
    .description(
      'bring a whole backup back as a new read-only subvolume in DIR (never overwriting anything), sent incrementally when it can be; or, with --path, one file or folder of it',
    )
    .addHelpText(
      'after',
      [
        '',
        'The backup is named after the source in both modes:',
        '  btrfs-vault restore /home --to /srv/restore                         the newest backup, whole',
        '  btrfs-vault restore home 2026-11-20_03-00-00 --to /srv/restore      that backup, whole',
        '  btrfs-vault restore /home --before 2026-11-20 --to /srv/restore     the newest older than that',
        '  btrfs-vault restore /home 2026-11-20_03-00-00 --path alice/thesis.tex --to /tmp/thesis.tex',
        '                                                                      one file of that backup',
        '--before and --writable are for a whole backup, --overwrite for --path: an option of the other mode is refused.',
      ].join('\n'),
    )
    .argument('[source]', `${SOURCE_HELP}, or a backup folder on the disk (none, on a terminal: choose)`)
    .argument(
      '[backup]',
      "the backup's name, for the whole backup and for --path alike (default: the newest; with --path the newest that has it)",
    )
    .addOption(configOption())
    .addOption(targetOption('restore from it (default: the attached one with the newest backup)'))
    .option('--to <dir>', 'a folder on a btrfs filesystem to restore into')
    .option(
      '--before <datetime>',
      'the whole backup: the newest older than this; UTC like the backup names, unless it ends in Z or an offset (2026-11-20, 2026-11-20T14:00, 2026-11-20T14:00+01:00)',
    )
    .option('--writable', 'the whole backup: also a writable snapshot beside it, ready to become the live subvolume')
    .option(
      '--path <path>',
      'only this file or folder (its path in the source): copied to --to with owner, mode, times, xattrs and ACLs',
    )
    // the old name of BACKUP with --path (a backup is named after the source in both modes)
    .addOption(new Option('--from <backup>', 'with --path: the same as BACKUP (deprecated)').hideHelp())
    .option('--overwrite', 'with --path: replace what is at --to, keeping it as NAME.before-restore')
    .option('-n, --dry-run', 'print every command; change nothing')
    .option('--json', 'machine-readable output')
    .action(
      async (
        sourceArg: string | undefined,
        backup: string | undefined,
        opts: {
          config: string;
          target?: string;
          to?: string;
          before?: string;
          writable?: boolean;
          path?: string;
          from?: string;
          overwrite?: boolean;
          dryRun?: boolean;
          json?: boolean;
        },
      ) => {
        const c = load();
        const { restoreCommand } = await c.commands.restore();
        code = await c.withSignals((signal) => restoreCommand(sourceArg, backup, opts, signal));
      },
    );

  program
    .command('files')
    .description('every backup in which a file or folder exists, with size and time, marking where it changed')
    .argument('<source>', `${SOURCE_HELP}, or a backup folder on the disk`)
    .argument('<path>', 'the path in the source (absolute, or relative to the source)')
    .addOption(configOption())
    .addOption(targetOption('look in it (default: the attached one with the newest backup)'))
    .option('--json', 'machine-readable output')
    .action(async (sourceArg: string, path: string, opts: { config: string; target?: string; json?: boolean }) => {
      const c = load();
      const { filesCommand } = await c.commands.files();
      code = await c.withSignals((signal) => filesCommand(sourceArg, path, opts, signal));
    });

  const schedule = program
    .command('schedule')
    .description('backups without a person: a systemd timer, and a run when the backup disk is plugged in');
  const scheduleAction =
    (action: 'install' | 'remove' | 'status') =>
    async (opts: {
      config: string;
      every?: string;
      onPlug?: boolean;
      root?: string;
      dryRun?: boolean;
      json?: boolean;
    }) => {
      code = await (await load().commands.schedule()).scheduleCommand(action, opts);
    };
  schedule
    .command('install')
    .description('write and enable the units (shown before they are written)')
    .addOption(configOption())
    .option(
      '--every <when>',
      "hourly, daily, or a systemd calendar expression (default: hourly; daily for a backup server's config)",
    )
    .option('--on-plug', 'also back up when the backup disk is plugged in (a udev rule)')
    .option('--root <dir>', 'write under this folder instead of / (staging, like systemctl --root)')
    .option('-n, --dry-run', 'only show the units')
    .option('--json', 'machine-readable output (the units are shown on stderr)')
    .action(scheduleAction('install'));
  schedule
    .command('remove')
    .description('disable and delete the units')
    .addOption(configOption())
    .option('--root <dir>', 'under this folder instead of /')
    .option('-n, --dry-run', 'only show')
    .option('--json', 'machine-readable output')
    .action(scheduleAction('remove'));
  schedule
    .command('status')
    .description('installed units, next run, last result')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(scheduleAction('status'));

  program
    .command('doctor')
    .description(
      'check what btrfs-vault needs (programs, kernel, root, files and their modes, mdadm.conf, fstab, units, backups), each with its fix; exit 0 all well, 1 warnings, 2 errors',
    )
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; json?: boolean }) => {
      code = await (await load().commands.doctor()).doctorCommand(opts);
    });

  program
    .command('prune')
    .description(
      'delete old snapshots and backups as [retention] says, keeping what the next backup needs; also after every backup',
    )
    .argument('[sources...]', SOURCES_HELP)
    .addOption(configOption())
    .addOption(targetOption('prune it alone (default: every attached one)'))
    .option('-n, --dry-run', 'show what is kept (and why) and what would be deleted; delete nothing')
    .option('--json', 'machine-readable output')
    .option(
      '--serve-root <dir>',
      "on a backup server: every host's backups under this serve root, by the backup disk's default rules and the server's clock",
    )
    .action(
      async (
        paths: string[],
        opts: { config: string; target?: string; dryRun?: boolean; json?: boolean; serveRoot?: string },
      ) => {
        const c = load();
        const { pruneCommand } = await c.commands.prune();
        code = await c.withSignals((signal) => pruneCommand(paths, opts, signal));
      },
    );

  program
    .command('open')
    .description('open the backup target (mount, check the token) and leave it open; also -o')
    .addOption(configOption())
    .addOption(targetOption('open it (default: every attached one)'))
    .option('-n, --dry-run', 'print what would run')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; target?: string; dryRun?: boolean; json?: boolean }) => {
      code = await (await load().commands.stack()).openCommand(opts);
    });

  program
    .command('close')
    .description('close the backup target (unmount); also -c')
    .addOption(configOption())
    .addOption(targetOption('close it (default: every one that is open)'))
    .option('-n, --dry-run', 'print what would run')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; target?: string; dryRun?: boolean; json?: boolean }) => {
      code = await (await load().commands.stack()).closeCommand(opts);
    });

  program
    .command('setup')
    .description(
      'prepare a backup disk: partition, RAID1, LUKS, LVM, btrfs, token, config (destroys what is on the disk)',
    )
    .option('--config <file>', 'where the config (and key, token hash) is written', DEFAULT_CONFIG)
    .option('--answers <file>', 'answer the questions from this TOML file (unattended)')
    .option('--host <name>', "this host's name (its logical volume's name); default: the hostname")
    .option('-n, --dry-run', 'show the plan and every command; change nothing')
    .option('--json', 'machine-readable output (with --answers: no questions; the plan goes to stderr)')
    .action(async (opts: { config: string; answers?: string; host?: string; dryRun?: boolean; json?: boolean }) => {
      code = await (await load().commands.setup()).setupCommand(opts);
    });

  program
    .command('add-mirror')
    .description('add the second disk of the RAID1 mirror (or replace a failed one) and wait for the resync')
    .addOption(configOption())
    .option('--disk <dev>', 'the new disk (unattended)')
    .option('--confirm <serial>', "with --disk: the disk's serial, as a person would type it")
    .option('--wipe-existing', 'with --disk: destroy what the disk carries')
    .option('--no-wait', 'return after adding; the resync goes on in the background')
    .option('-n, --dry-run', 'show the commands; change nothing')
    .option('--json', 'machine-readable output (with --disk: no questions; the plan goes to stderr)')
    .action(
      async (opts: {
        config: string;
        disk?: string;
        confirm?: string;
        wipeExisting?: boolean;
        wait: boolean;
        dryRun?: boolean;
        json?: boolean;
      }) => {
        code = await (await load().commands.addMirror()).addMirrorCommand(opts);
      },
    );

  const target = program.command('target').description('the targets of this host: add a backup server');
  target
    .command('add')
    .description(
      "add a backup server reached over SSH: this host's key, the server's host key pinned, the [targets.<name>] table, and the line for the server's authorized_keys",
    )
    .argument('<name>', "the target's name in the config ([targets.<name>])")
    .addOption(configOption())
    .option('--ssh <user@host>', 'the server (required)')
    .option('--port <port>', 'its SSH port (default 22)')
    .option('--fingerprint <SHA256:…>', "the server's host key fingerprint, confirmed in advance (no question)")
    .option(
      '--serve-root <dir>',
      "the server's folder of every host's backups (in the authorized_keys line)",
      '/srv/btrfs-vault',
    )
    .option('-n, --dry-run', 'show what would be made; change nothing')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string,
        opts: {
          config: string;
          ssh?: string;
          port?: string;
          fingerprint?: string;
          serveRoot?: string;
          dryRun?: boolean;
          json?: boolean;
        },
      ) => {
        code = await (await load().commands.target()).targetAddCommand(name, opts);
      },
    );

  program
    .command('serve')
    .description(
      "on a backup server: sshd's forced command for one host's key (the verb line in SSH_ORIGINAL_COMMAND; docs/SERVER.md), or --init to make the serve root",
    )
    .option('--root <dir>', "this key's folder on the server: all it may list, receive into and send from")
    .option('--init <dir>', 'make the serve root (0700, on btrfs) and print how to authorise a host')
    .addOption(configOption())
    .action(async (opts: { root?: string; init?: string; config: string }) => {
      code = await (await load().commands.serve()).serveCommand(opts);
    });

  program
    .command('__complete', { hidden: true })
    .description('what the shell completions offer: configured sources, their backups, targets (reads the config only)')
    .argument('<what>', 'sources, backups or targets')
    .argument('[source]', 'for backups: the source')
    .addOption(configOption())
    .action(async (what: string, source: string | undefined, opts: { config: string }) => {
      code = await (await load().commands.complete()).completeCommand(what, source, opts);
    });

  return { program, code: () => code };
}

// a second --target would silently replace the first: one disk named, or none for all of them
function onlyOnce(value: string, previous: string | undefined): string {
  if (previous !== undefined)
    throw new InvalidArgumentError(
      `--target names one disk; it was given twice (${previous}, ${value}): leave it out to use every attached disk`,
    );
  return value;
}
