import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { tree } from '../../support/tree.js';
import { assertInVm, OUT, PROJECT, vmDisk } from './support.js';

// `npm run demo` inside the VM (test/vm/demo.ts boots it): the disk stack on two empty
// virtual disks, from setup to restore, printed on the console that the host streams
// to the user's terminal. argv[2]: the host terminal's size ("120x40"), or "plain".

assertInVm();
const [cols, rows] = (process.argv[2] ?? 'plain').split('x').map(Number);
const consoleFd = openSync('/dev/console', 'w');
// a sized console lets listr2 redraw its task list live, as on a real terminal
const tty =
  Boolean(cols && rows) &&
  spawnSync('stty', ['-F', '/dev/console', 'cols', String(cols), 'rows', String(rows)]).status === 0;
const CONFIG = '/etc/btrfs-vault/config.toml';
const SRC = '/srv';
const HOME = join(SRC, 'home');
const NEW = '/mnt/new-machine';
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const figures: string[] = [];
const started = Date.now();

function say(text: string): void {
  writeFileSync(consoleFd, `${text}\n`);
}

function chapter(title: string): void {
  say(`\n${bold(`━━ ${title} `.padEnd(72, '━'))}`);
}

/** Runs a shell-visible command with its output on the console; stops the demo if it fails. */
function show(file: string, args: string[], env: Record<string, string> = {}): void {
  say(`\n${bold(`$ ${file === 'node' ? 'btrfs-vault' : file} ${(file === 'node' ? args.slice(1) : args).join(' ')}`)}`);
  const r = spawnSync(file, args, {
    cwd: PROJECT,
    stdio: ['ignore', consoleFd, consoleFd],
    env: { ...process.env, ...(tty ? { TERM: 'xterm-256color' } : { NO_COLOR: '1' }), ...env },
  });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status ?? r.signal}`);
}

function vault(...args: string[]): void {
  show('node', [BIN, ...args]);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(0)} s`;
}

const diskA = vmDisk('bv-demo-a');
const diskB = vmDisk('bv-demo-b');

chapter('The machine: two empty 1 GiB backup disks, a disk with the data, a new disk');
show('lsblk', ['-o', 'NAME,SIZE,SERIAL,FSTYPE,MOUNTPOINTS']);

chapter('A source: a btrfs subvolume with data');
sh('mkfs.btrfs', ['-q', vmDisk('bv-demo-src')]);
mkdirSync(SRC, { recursive: true });
sh('mount', [vmDisk('bv-demo-src'), SRC]);
sh('btrfs', ['subvolume', 'create', HOME]);
mkdirSync(join(HOME, 'alice', 'notes'), { recursive: true });
writeFileSync(join(HOME, 'alice', 'photos.bin'), randomBytes(32 * 1024 * 1024));
for (let i = 1; i <= 300; i++) writeFileSync(join(HOME, 'alice', 'notes', `note-${i}.txt`), `note ${i}\n`);
symlinkSync('notes/note-1.txt', join(HOME, 'alice', 'first-note'));
say(`${HOME}: 32 MiB of photos, 300 notes, a symlink`);

chapter('setup, unattended: partition, RAID1 (degraded), LUKS, LVM, btrfs, token');
writeFileSync('/root/passphrase', 'correct horse battery staple\n', { mode: 0o600 });
writeFileSync(
  '/root/answers.toml',
  `disk = "/dev/disk/by-id/virtio-bv-demo-a"\nconfirm = "bv-demo-a"\npassphrase_file = "/root/passphrase"\nsize = "all"\n`,
);
show('cat', ['/root/answers.toml']);
say(
  "(the demo uses fast pbkdf2 keyslots as the tests do: argon2 would take minutes under emulation; a real setup keeps cryptsetup's defaults)",
);
let t = Date.now();
show('node', [BIN, 'setup', '--answers', '/root/answers.toml', '--host', 'demo'], {
  BTRFS_VAULT_TEST_PBKDF2_ITERATIONS: '1000',
});
figures.push(`setup of ${diskA}: ${seconds(t)}`);

chapter('The source goes into the config');
const config = readFileSync(CONFIG, 'utf8').replace(
  /^host = .*$/m,
  (l) => `${l}\nsources = [{ path = "${HOME}", name = "home" }]\nsnapshot_dir = "${SRC}/snapshots"`,
);
writeFileSync(CONFIG, config);
show('cat', [CONFIG]);

chapter('A full backup: the stack is opened, the snapshot sent, the stack closed');
t = Date.now();
vault('backup');
figures.push(`full backup: ${seconds(t)}`);

chapter('A change, then an incremental backup: only the change is sent');
appendFileSync(join(HOME, 'alice', 'notes', 'note-7.txt'), 'changed\n');
writeFileSync(join(HOME, 'alice', 'new.bin'), randomBytes(1024 * 1024));
say('changed note-7.txt, added new.bin (1 MiB)');
t = Date.now();
vault('backup');
figures.push(`incremental backup: ${seconds(t)}`);

chapter('The second disk: add-mirror, resync to [UU]');
t = Date.now();
vault('add-mirror', '--disk', '/dev/disk/by-id/virtio-bv-demo-b', '--confirm', 'bv-demo-b');
figures.push(`add-mirror of ${diskB} with its resync: ${seconds(t)}`);

chapter('open, status, list');
vault('open');
vault('status');
vault('list');

chapter('Restore onto the new disk: the latest backup, read-only, sent whole');
sh('mkfs.btrfs', ['-q', vmDisk('bv-demo-new')]);
mkdirSync(NEW, { recursive: true });
sh('mount', [vmDisk('bv-demo-new'), NEW]);
t = Date.now();
vault('restore', 'home', '--to', NEW);
figures.push(`restore: ${seconds(t)}`);
const restored = join(NEW, readlinkSync(join(SRC, 'snapshots', 'home', 'latest')));
const equal = JSON.stringify(tree(restored)) === JSON.stringify(tree(HOME));
say(`\nthe restored ${restored} ${equal ? 'equals' : 'DIFFERS FROM'} ${HOME}, file by file`);

chapter('close: the whole stack, top-down');
vault('close');
show('lsblk', ['-o', 'NAME,SIZE,SERIAL,FSTYPE,MOUNTPOINTS', diskA, diskB]);

chapter('Summary');
const leftOpen = [
  ...(/^md\d+ :/m.test(readFileSync('/proc/mdstat', 'utf8')) ? ['an array'] : []),
  ...(existsSync('/dev/mapper/enc-backup') ? ['the LUKS mapping'] : []),
  ...(existsSync('/dev/backup/demo') ? ['the volume'] : []),
  ...(readFileSync('/proc/mounts', 'utf8').includes(' /media/backup ') ? ['the mount'] : []),
];
say(
  `  ${diskA} and ${diskB}: GPT partition -> RAID1 -> LUKS2 -> LVM -> btrfs -> token, built by setup from an answers file`,
);
say(
  `  two backups (full, then incremental), a mirror added and resynced, a restore ${equal ? 'equal to the source, file by file' : 'THAT DIFFERS from the source'}`,
);
say(
  `  closed at the end: ${leftOpen.length ? `STILL OPEN: ${leftOpen.join(', ')}` : 'no array, no LUKS mapping, no volume, no mount left open'}`,
);
for (const f of figures) say(`  ${f}`);
say(`  the guest's part of the demo: ${seconds(started)}`);
writeFileSync(join(OUT, 'result.json'), JSON.stringify({ ok: equal, figures }));
if (!equal || leftOpen.length) process.exitCode = 1;
