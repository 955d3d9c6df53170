import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { programModel } from '../../src/cli/docs/command-model.js';
import { manPage } from '../../src/cli/docs/man-page.js';
import { bashCompletion } from '../../src/cli/docs/bash-completion.js';
import { zshCompletion } from '../../src/cli/docs/zsh-completion.js';
import { VERSION } from '../../src/core/version.js';
import { EXIT_CODES } from '../../src/core/exit-codes.js';
import { scratchDir } from '../support/scratch.js';

// The man page and the completions are written from the program (scripts/man.mjs):
// every command and option the program has must be in each, hidden ones in none.
// Walked here with commander's own fields, apart from src/cli/docs/command-model.ts.

const program = () =>
  buildProgram(() => {
    throw new Error('no command runs here');
  }).program;

const hidden = (x: Command | Option) =>
  (x as unknown as { _hidden?: boolean; hidden?: boolean })._hidden === true ||
  (x as { hidden?: boolean }).hidden === true;

function walk(cmd: Command, parents: string[] = []): { path: string[]; options: Option[] }[] {
  return cmd.commands
    .filter((c) => !hidden(c))
    .flatMap((c) => {
      const path = [...parents, c.name()];
      return [{ path, options: c.options.filter((o) => !hidden(o)) }, ...walk(c, path)];
    });
}

const generated = (p: Command) => {
  const model = programModel(p);
  return { man: manPage(model, '2026-01-01'), bash: bashCompletion(model), zsh: zshCompletion(model) };
};
const roffName = (s: string) => s.replaceAll('-', '\\-');

function assertCovers(p: Command, out: ReturnType<typeof generated>): number {
  let checked = 0;
  for (const { path, options } of walk(p)) {
    const name = path.join(' ');
    assert.ok(out.man.includes(`.SS "${name}"`), `man page: a section for ${name}`);
    for (const word of path) {
      assert.ok(out.bash.includes(word), `bash completion: ${word}`);
      assert.ok(out.zsh.includes(`'${word}:`), `zsh completion: ${word}`);
    }
    const section = out.man.slice(out.man.indexOf(`.SS "${name}"`)).split('\n.SS ')[0]!;
    for (const o of options) {
      for (const flag of [o.short, o.long].filter((f): f is string => f !== undefined)) {
        if (flag !== '--help') assert.ok(section.includes(`\\fB${roffName(flag)}\\fR`), `man page: ${flag} of ${name}`);
        assert.match(
          out.bash,
          new RegExp(`'${name}'\\) opts='[^']*(?<![\\w-])${flag}(?![\\w-])`),
          `bash: ${flag} of ${name}`,
        );
        assert.ok(out.zsh.includes(flag), `zsh: ${flag} of ${name}`);
        checked++;
      }
    }
  }
  return checked;
}

test('every command and option of the program is in the man page and both completions; the hidden ones in none', () => {
  const p = program();
  const out = generated(p);
  assert.ok(assertCovers(p, out) > 60);
  for (const flag of ['--version', '--help']) assert.ok(out.man.includes(`\\fB${roffName(flag)}\\fR`));
  for (const text of Object.values(out))
    assert.ok(!text.includes('__complete sources|'), 'the hidden command is not offered');
  assert.ok(!out.man.includes('__complete'), 'the hidden command is not in the man page');
  for (const section of [
    'NAME',
    'SYNOPSIS',
    'DESCRIPTION',
    'COMMANDS',
    'OPTIONS',
    'FILES',
    '"EXIT STATUS"',
    '"SEE ALSO"',
  ])
    assert.match(out.man, new RegExp(`^\\.SH ${section}$`, 'm'));
  for (const r of EXIT_CODES) assert.match(out.man, new RegExp(`^\\.TP\\n\\\\fB${r.code}\\\\fR$`, 'm'));
  for (const file of [
    '/etc/btrfs-vault/config.toml',
    '/etc/btrfs-vault/key',
    '/etc/btrfs-vault/token.sha512',
    '/var/lib/btrfs-vault',
    '/var/cache/btrfs-vault',
  ])
    assert.ok(out.man.includes(file), file);
  assert.ok(out.man.includes(`"btrfs\\-vault ${VERSION}"`), 'the version');
});

test('a command or option added to the program shows up in all three, and one whose value the completions cannot name fails the build', () => {
  const p = program();
  p.command('frobnicate')
    .description('a new command')
    .option('--quietly', 'a new switch')
    .option('--to <dir>', 'where');
  const out = generated(p);
  assert.ok(assertCovers(p, out) > 60);
  assert.ok(
    out.man.includes('\\fB\\-\\-quietly\\fR') && out.bash.includes('--quietly') && out.zsh.includes('--quietly'),
  );
  p.command('frobnicate2').option('--unheard-of <x>', 'a value nobody said how to complete');
  assert.throws(() => generated(p), /value-kinds\.ts .*--unheard-of/);
});

test('the built man page and completions are those of the program now (npm run build writes them)', () => {
  const out = generated(program());
  const strip = (s: string) => s.replace(/^\.TH .*$/m, '');
  assert.equal(strip(readFileSync('dist/man/btrfs-vault.8', 'utf8')), strip(out.man));
  assert.equal(readFileSync('dist/man/btrfs-vault.bash', 'utf8'), out.bash);
  assert.equal(readFileSync('dist/man/_btrfs-vault', 'utf8'), out.zsh);
});

test('the man page renders without a warning (groff -ww), the completions parse (bash -n, zsh -n)', () => {
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    assert.equal(r.error, undefined, `${cmd} is missing: scripts/deps.sh installs it`);
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${cmd} ${args.join(' ')} warns`);
    return r.stdout;
  };
  run('groff', ['-ww', '-man', '-z', 'dist/man/btrfs-vault.8']);
  run('bash', ['-n', 'dist/man/btrfs-vault.bash']);
  run('zsh', ['-n', 'dist/man/_btrfs-vault']);
  const text = spawnSync('man', ['-l', 'dist/man/btrfs-vault.8'], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' },
  });
  assert.equal(text.status, 0, text.stderr);
  assert.equal(text.stderr, '', 'man -l warns');
  assert.match(text.stdout, /btrfs-vault restore \[options\] \[source\] \[backup\]/);
});

test('bash completion: commands, options, and from the config its sources and their backups (the release build answers)', () => {
  const dir = scratchDir('complete');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'btrfs-vault'), `#!/bin/sh\nexec node ${resolve('bin/btrfs-vault.js')} "$@"\n`);
  chmodSync(join(bin, 'btrfs-vault'), 0o755);
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    `sources = ["/", { path = "/home", name = "home" }]\nsnapshot_dir = "${dir}/snapshots"\n[target]\nmountpoint = "/media/backup"\nlayers = []\n`,
    { mode: 0o600 },
  );
  for (const s of ['2026-01-01_00-00-00', '2026-02-01_10-00-00', 'not-a-backup'])
    mkdirSync(join(dir, 'snapshots', 'home', s), { recursive: true });
  const complete = (...words: string[]) => {
    const script = `source dist/man/btrfs-vault.bash\nCOMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n_btrfs_vault\nprintf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script, 'bash', 'btrfs-vault', ...words], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };
  assert.deepEqual(complete('res'), ['restore']);
  assert.deepEqual(complete('schedule', ''), ['install', 'remove', 'status']);
  assert.deepEqual(complete('schedule', 'install', '--ev'), ['--every']);
  assert.deepEqual(complete('restore', '--config', config, ''), ['root', '/', 'home', '/home']);
  assert.deepEqual(complete('restore', '--config', config, 'h'), ['home']);
  assert.deepEqual(complete('restore', '--config', config, 'home', ''), ['2026-02-01_10-00-00', '2026-01-01_00-00-00']);
  assert.deepEqual(complete('restore', '--config', '=', config, '/home', '--from', '2026-01'), ['2026-01-01_00-00-00']);
  assert.deepEqual(complete('files', '--config', config, '/h'), ['/home']);
  assert.deepEqual(complete('help', 'ad'), ['add-mirror']);
  assert.deepEqual(complete('--v'), ['--version']);
  // no config there: nothing offered, no error on the terminal
  assert.deepEqual(complete('restore', '--config', join(dir, 'none.toml'), ''), []);
});
