import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSnapshotName } from '../../../src/core/naming.js';
import { sh } from '../../support/sh.js';
import { assertInVm, OUT, PROJECT, runScenarios, vmDisk } from './support.js';

// The Debian package as an admin meets it, in the VM's throw-away root (the machine's
// root read-only under RAM): dpkg -i, then the installed program, its man page, its
// bash completion and a backup, then dpkg -r leaves none of its files behind.

assertInVm();
const VERSION = (JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = join(OUT, `btrfs-vault_${VERSION}_all.deb`);
const BIN = '/usr/sbin/btrfs-vault';
const SRC = '/srv/src';
const MP = '/media/backup';
const ETC = '/etc/btrfs-vault';
let installed: string[] = [];

/** Runs the installed program as an admin would: no project on the path. */
function vault(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, { encoding: 'utf8', cwd: '/', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** COMPREPLY of the installed completion, loaded as bash-completion loads it on the first Tab. */
function complete(words: string[]): string[] {
  const script = [
    'source /usr/share/bash-completion/bash_completion',
    '_completion_loader btrfs-vault',
    'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}',
    '$(complete -p btrfs-vault | sed -E "s/.* -F ([^ ]+) .*/\\1/") btrfs-vault "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = spawnSync('bash', ['-c', script, 'bash', 'btrfs-vault', ...words], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

await runScenarios([
  [
    'dpkg -i installs the package: the program in /usr/sbin, the bundle in /usr/lib/btrfs-vault, man page, completions, docs',
    (notes) => {
      // man-db's trigger re-indexes every man page of the machine (20 s of TCG per dpkg
      // run): off in this throw-away root; man finds the page without the index
      rmSync('/var/lib/man-db/auto-update', { force: true });
      const t = Date.now();
      sh('dpkg', ['-i', DEB]);
      notes.push(`dpkg -i ${((Date.now() - t) / 1000).toFixed(1)} s`);
      assert.match(
        sh('dpkg-query', ['-W', '-f=${Status} ${Version}', 'btrfs-vault']),
        new RegExp(`install ok installed ${VERSION.replaceAll('.', '\\.')}`),
      );
      installed = sh('dpkg', ['-L', 'btrfs-vault'])
        .split('\n')
        .filter((l) => l.startsWith('/'));
      for (const f of [
        BIN,
        '/usr/lib/btrfs-vault/launch.cjs',
        '/usr/share/man/man8/btrfs-vault.8.gz',
        '/usr/share/bash-completion/completions/btrfs-vault',
        '/usr/share/zsh/vendor-completions/_btrfs-vault',
        '/usr/share/doc/btrfs-vault/copyright',
      ])
        assert.ok(installed.includes(f) && existsSync(f), f);
      assert.equal(lstatSync(BIN).mode & 0o777, 0o755);
    },
  ],
  [
    "btrfs-vault --version is package.json's; man btrfs-vault finds and renders the page",
    () => {
      const v = vault(['--version']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout.trim(), VERSION);
      assert.equal(sh('man', ['-w', 'btrfs-vault']).trim(), '/usr/share/man/man8/btrfs-vault.8.gz');
      const page = spawnSync('man', ['btrfs-vault'], {
        encoding: 'utf8',
        env: { ...process.env, MANPAGER: 'cat', MANWIDTH: '80' },
      });
      assert.equal(page.status, 0, page.stderr);
      assert.match(page.stdout, /BTRFS-VAULT\(8\)/);
      assert.match(page.stdout, /btrfs-vault restore \[options\] \[source\] \[backup\]/);
      assert.match(page.stdout, /EXIT STATUS/);
    },
  ],
  [
    'a backup of a btrfs subvolume through the installed program; then the bash completion offers restore, the source and its backup',
    () => {
      sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-src')]);
      sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-dst')]);
      mkdirSync(SRC, { recursive: true });
      mkdirSync(MP, { recursive: true });
      sh('mount', [vmDisk('bv-src'), SRC]);
      sh('mount', [vmDisk('bv-dst'), MP]);
      sh('btrfs', ['subvolume', 'create', join(SRC, 'data')]);
      writeFileSync(join(SRC, 'data', 'thesis.tex'), 'chapter one\n');
      // the config where the package's man page says it is, as an admin writes it
      mkdirSync(ETC, { recursive: true, mode: 0o700 });
      const token = randomBytes(64);
      writeFileSync(join(MP, '.token'), token, { mode: 0o600 });
      writeFileSync(join(ETC, 'token.sha512'), `${createHash('sha512').update(token).digest('hex')}  ${MP}/.token\n`, {
        mode: 0o600,
      });
      writeFileSync(
        join(ETC, 'config.toml'),
        `host = "vmhost"\nsources = [{ path = "${SRC}/data", name = "data" }]\nsnapshot_dir = "${SRC}/snapshots"\n[target]\nmountpoint = "${MP}"\n`,
        { mode: 0o600 },
      );
      const b = vault(['backup', '--json']);
      assert.equal(b.code, 0, `${b.stdout}\n${b.stderr}`);
      const backups = readdirSync(join(MP, 'data')).filter(isSnapshotName);
      assert.equal(backups.length, 1, backups.join(' '));
      assert.equal(readFileSync(join(MP, 'data', backups[0]!, 'thesis.tex'), 'utf8'), 'chapter one\n');
      const words = vault(['__complete', 'sources']);
      assert.equal(words.stdout, `data\n${SRC}/data\n`, words.stderr);
      // Tab as a person presses it: btrfs-vault res<TAB>, then the source, then its backup
      assert.deepEqual(complete(['res']), ['restore']);
      assert.deepEqual(complete(['restore', 'd']), ['data']);
      assert.deepEqual(complete(['restore', '/srv/src/d']), ['/srv/src/data']);
      assert.deepEqual(complete(['restore', 'data', '']), backups);
      const l = vault(['list', '--json']);
      assert.equal(l.code, 0, l.stderr);
    },
  ],
  [
    'dpkg -r removes every file it installed, and the compile cache the program made',
    () => {
      assert.ok(installed.length > 10);
      sh('dpkg', ['-r', 'btrfs-vault']);
      const left = installed.filter((f) => existsSync(f) && !lstatSync(f).isDirectory());
      assert.deepEqual(left, [], 'files left behind');
      for (const d of ['/usr/lib/btrfs-vault', '/usr/share/doc/btrfs-vault', '/var/cache/btrfs-vault'])
        assert.ok(!existsSync(d), `${d} is gone`);
      assert.notEqual(spawnSync('dpkg', ['-S', BIN]).status, 0, `dpkg knows no package with ${BIN}`);
      // the config is the admin's: dpkg never owned it
      assert.ok(existsSync(join(ETC, 'config.toml')));
      sh('umount', [MP]);
      sh('umount', [SRC]);
    },
  ],
]);
