import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { fromNotRoot, isVaultError } from '../../src/core/errors.js';
import { normalizeArgv, WITH_SUBCOMMANDS } from '../../src/cli/argv.js';
import { RELEASE_BIN } from '../support/cli.js';
import { scratchDir } from '../support/scratch.js';
import { programModel } from '../../src/cli/docs/command-model.js';
import { manPage } from '../../src/cli/docs/man-page.js';
import { bashCompletion } from '../../src/cli/docs/bash-completion.js';
import { zshCompletion } from '../../src/cli/docs/zsh-completion.js';

// The command line from outside, in-process where nothing has to run: commander's own
// parse of the real program, with a loader that fails the test if a command's code is
// asked for. What is refused must be refused before anything runs.

interface Parsed {
  ran: boolean;
  error?: { code: string; exitCode: number; message: string };
}

/** The program parses `args` (as runCli gives them); `ran`: a command's action started. */
async function parse(args: string[]): Promise<Parsed> {
  let ran = false;
  const { program } = buildProgram(() => {
    ran = true;
    throw new Error('a command ran');
  });
  const quiet = (c: Command) => {
    c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    c.commands.forEach(quiet);
  };
  quiet(program);
  try {
    await program.parseAsync(normalizeArgv(args), { from: 'user' });
    return { ran };
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message: string };
    if (e.code === undefined) return { ran };
    return { ran, error: { code: e.code, exitCode: e.exitCode ?? -1, message: e.message } };
  }
}

/** Every visible command that runs (not schedule itself): its words and its options' flags. */
function verbs(): { path: string[]; longs: string[]; args: string[] }[] {
  const { program } = buildProgram(() => {
    throw new Error('no command runs here');
  });
  const out: { path: string[]; longs: string[]; args: string[] }[] = [];
  const walk = (c: Command, parents: string[]) => {
    for (const sub of c.commands) {
      const path = [...parents, sub.name()];
      if (sub.commands.length > 0) walk(sub, path);
      else if (sub.name() !== 'help' && !sub.name().startsWith('__'))
        out.push({
          path,
          longs: sub.options.map((o) => o.long!).filter(Boolean),
          // a required argument gets a plain word, so the parse reaches the options
          args: sub.registeredArguments.filter((a) => a.required).map(() => 'home'),
        });
    }
  };
  walk(program, []);
  return out;
}

test('[paths we are given] every verb refuses an option of another verb (unknown option: exit 2) before anything runs', async () => {
  const all = verbs();
  const every = new Set(all.flatMap((v) => v.longs));
  let tried = 0;
  for (const v of all) {
    for (const foreign of [...every].filter((o) => !v.longs.includes(o))) {
      const r = await parse([...v.path, ...v.args, foreign, 'x']);
      const what = `${v.path.join(' ')} ${foreign}`;
      assert.equal(r.ran, false, `${what}: ran`);
      // runCli turns every commander error but --help/--version into exit 2
      assert.equal(r.error?.code, 'commander.unknownOption', `${what}: ${r.error?.message}`);
      tried++;
    }
  }
  assert.ok(tried > 100, `${tried} lines tried`);
});

test('[paths we are given] --help or --version anywhere on a verb line (not as an option value) shows it and runs nothing', async () => {
  for (const v of verbs()) {
    for (const flag of ['--help', '-h', '--version', '-V']) {
      for (const at of [0, v.args.length]) {
        const args = [...v.path, ...v.args.slice(0, at), flag, ...v.args.slice(at), '--config', '/nonexistent.toml'];
        const r = await parse(args);
        assert.equal(r.ran, false, `${args.join(' ')}: ran`);
        assert.equal(r.error?.exitCode, 0, `${args.join(' ')}: ${r.error?.message}`);
      }
    }
  }
  // the implicit backup too, before and after a path
  for (const args of [
    ['--help', '/data'],
    ['/data', '--help'],
    ['-b', '-V'],
    ['/data', '--version'],
  ]) {
    const r = await parse(args);
    assert.equal(r.ran, false, args.join(' '));
    assert.equal(r.error?.exitCode, 0, args.join(' '));
  }
});

test("[paths we are given] every option that takes a value: its value is never taken for the implicit backup's command", async () => {
  const { program } = buildProgram(() => {
    throw new Error('no command runs here');
  });
  const withValue = new Set<string>();
  const walk = (c: Command) => {
    for (const o of c.options) if (o.long && (o.required || o.optional)) withValue.add(o.long);
    c.commands.forEach(walk);
  };
  walk(program);
  assert.ok(withValue.has('--target'));
  assert.deepEqual(
    [...WITH_SUBCOMMANDS],
    program.commands.filter((c) => c.commands.length > 0).map((c) => c.name()),
    'argv.ts knows which commands have subcommands',
  );
  for (const long of withValue) {
    // `btrfs-vault --target backup /data`: "backup" is the value, the command is the implicit backup
    for (const value of ['backup', 'restore', 'usb']) {
      assert.deepEqual(
        normalizeArgv([long, value, '/data']),
        ['backup', long, value, '/data'],
        `${long} ${value} /data`,
      );
    }
  }
});

test('[what we write into other formats] the man page renders with man --warnings, and every option each --help shows is in it', () => {
  const man = spawnSync('man', ['--warnings', '-l', 'dist/man/btrfs-vault.8'], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' },
  });
  assert.equal(man.error, undefined, 'man is missing: scripts/deps.sh installs man-db');
  assert.equal(man.status, 0, man.stderr);
  assert.equal(man.stderr, '', 'man --warnings warns');
  const roff = readFileSync('dist/man/btrfs-vault.8', 'utf8');
  let options = 0;
  for (const v of verbs()) {
    const help = spawnSync('node', [RELEASE_BIN, ...v.path, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    const section = roff.slice(roff.indexOf(`.SS "${v.path.join(' ')}"`)).split('\n.SS ')[0]!;
    assert.ok(section.length > 0, `a section for ${v.path.join(' ')}`);
    for (const m of help.stdout.matchAll(/^ {2}(-\w, )?(--[\w-]+)/gm)) {
      if (m[2] === '--help') continue;
      assert.ok(
        section.includes(`\\fB${m[2]!.replaceAll('-', '\\-')}\\fR`),
        `${v.path.join(' ')} ${m[2]} in the man page`,
      );
      options++;
    }
  }
  assert.ok(options > 50, `${options} options checked`);
});

test("[paths we are given] options before the command are the command's: btrfs-vault --config F list, --config F schedule install", async () => {
  assert.deepEqual(normalizeArgv(['--config', '/x.toml', 'list']), ['list', '--config', '/x.toml']);
  assert.deepEqual(normalizeArgv(['--json', '--config', '/x.toml', 'status', '--check']), [
    'status',
    '--json',
    '--config',
    '/x.toml',
    '--check',
  ]);
  assert.deepEqual(normalizeArgv(['--config', '/x.toml', 'schedule', 'install', '--every', 'daily']), [
    'schedule',
    'install',
    '--config',
    '/x.toml',
    '--every',
    'daily',
  ]);
  // a value that is a command's name stays a value
  assert.deepEqual(normalizeArgv(['--config', 'list', 'status']), ['status', '--config', 'list']);
  assert.deepEqual(normalizeArgv(['--help', 'list']), ['--help', 'list']);
  for (const args of [
    ['--config', '/x.toml', 'list', '--json'],
    ['--config', '/x.toml', 'schedule', 'status'],
  ]) {
    const r = await parse(args);
    assert.equal(r.error, undefined, `${args.join(' ')}: ${r.error?.message}`);
    assert.equal(r.ran, true, args.join(' '));
  }
});

const HOSTILE_TEXT = `it's $(touch pwned) \`touch pwned\` [a]:b\\ "q" % ;touch pwned\n.SH INJECTED\n'br`;

test('[what we write into other formats] program text with roff and shell syntax in it: the man page shows it as text, the completions parse and run none of it', () => {
  const { program } = buildProgram(() => {
    throw new Error('no command runs here');
  });
  program.command('frob').description(HOSTILE_TEXT).option('--odd <dir>', HOSTILE_TEXT);
  const model = programModel(program);
  const dir = scratchDir('hostile-text');
  const page = join(dir, 'btrfs-vault.8');
  writeFileSync(page, manPage(model, '2026-01-01'));
  const text = spawnSync('groff', ['-ww', '-man', '-Tutf8', page], { encoding: 'utf8' });
  assert.equal(text.stderr, '', 'groff warns');
  assert.doesNotMatch(text.stdout, /^INJECTED/m, 'no section of its own');
  // justified lines may widen the space between the words
  assert.match(text.stdout, /\.SH\s+INJECTED/, 'the text, shown');
  const bash = join(dir, 'btrfs-vault.bash');
  const zsh = join(dir, '_btrfs-vault');
  // the option's value is a folder: say so, as value-kinds.ts would
  writeFileSync(
    bash,
    bashCompletion(model, () => {}),
  );
  writeFileSync(
    zsh,
    zshCompletion(model, () => {}),
  );
  for (const [shell, file] of [
    ['bash', bash],
    ['zsh', zsh],
  ]) {
    const r = spawnSync(shell!, ['-n', file!], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${shell} -n: ${r.stderr}`);
  }
  const r = spawnSync(
    'bash',
    [
      '-c',
      `source ${bash}; COMP_WORDS=(btrfs-vault fr); COMP_CWORD=1; _btrfs_vault; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  assert.equal(r.stdout, 'frob\n', r.stderr);
  assert.ok(!existsSync(join(dir, 'pwned')), 'nothing of the text ran');
  // zsh: the file defines its functions and runs none of the text
  const z = spawnSync('zsh', ['-f', '-c', `autoload -Uz compinit; compinit -u -D; source ${zsh} 2>/dev/null; true`], {
    cwd: dir,
    encoding: 'utf8',
  });
  assert.equal(z.status, 0, z.stderr);
  assert.ok(!existsSync(join(dir, 'pwned')), 'nothing of the text ran in zsh');
});

test('[the release build] the man page and the completions hold nothing of the machine they were built on', () => {
  for (const file of ['dist/man/btrfs-vault.8', 'dist/man/btrfs-vault.bash', 'dist/man/_btrfs-vault']) {
    const text = readFileSync(file, 'utf8');
    for (const local of [process.cwd(), `${tmpdir()}/`, process.env.HOME ?? '/root'])
      assert.ok(!text.includes(local), `${file} holds ${local}`);
    // the host's name as a word (a short one is a part of many words)
    assert.doesNotMatch(text, new RegExp(`(?<![\\w-])${hostname()}(?![\\w-])`), `${file} names this host`);
  }
});

test("a refused system call in a run that is not root's is the user's to fix (exit 2, run it as root); as root, or any other error, it stays what it was", () => {
  const denied = Object.assign(new Error("EACCES: permission denied, mkdir '/run/btrfs-vault/locks'"), {
    code: 'EACCES',
  });
  const mapped = fromNotRoot(denied, 1000);
  assert.ok(isVaultError(mapped));
  assert.equal(mapped.exitCode, 2);
  assert.match(mapped.message, /permission denied.*user 1000, not root/);
  assert.match(mapped.fix ?? '', /as root/);
  const eperm = fromNotRoot(Object.assign(new Error('x'), { code: 'EPERM' }), 1000);
  assert.ok(isVaultError(eperm) && eperm.exitCode === 2);
  assert.equal(fromNotRoot(denied, 0), denied, 'as root: a real surprise');
  const other = Object.assign(new Error('no such file'), { code: 'ENOENT' });
  assert.equal(fromNotRoot(other, 1000), other);
});
