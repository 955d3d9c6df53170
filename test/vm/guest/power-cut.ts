import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { assertInVm, cutPower, PROJECT, runScenarios, vmDisk, type Scenario } from './support.js';

// Power cuts during setup. Each boot resumes the setup and lets it run until it has
// done one more step, where the test-only hook pauses it (done, not yet recorded);
// then the host kills qemu. The files a real host keeps (/etc/fstab, mdadm.conf, the
// config folder) live on a small ext4 disk of their own, so a cut loses what was not
// synced, as it would on a real machine. The last boot finishes the setup and counts
// what exists: everything once.

assertInVm();
const [phase, step] = process.argv.slice(2);
const PERSIST = '/persist';
const ETC = join(PERSIST, 'btrfs-vault');
const CONFIG = join(ETC, 'config.toml');
const MP = '/media/backup';
const ANSWERS = join(PERSIST, 'answers.toml');

/** The host's own files on the "system" disk, bound over /etc as a real root would hold them. */
function systemDisk(): void {
  const dev = vmDisk('bv-sys');
  // blkid exits 2 when it finds no filesystem: the first boot
  const fresh = spawnSync('blkid', ['-o', 'value', '-s', 'TYPE', dev]).status === 2;
  if (fresh) sh('mkfs.ext4', ['-q', dev]);
  mkdirSync(PERSIST, { recursive: true });
  sh('mount', [dev, PERSIST]);
  if (fresh) {
    copyFileSync('/etc/fstab', join(PERSIST, 'fstab'));
    writeFileSync(
      join(PERSIST, 'mdadm.conf'),
      existsSync('/etc/mdadm/mdadm.conf') ? readFileSync('/etc/mdadm/mdadm.conf') : '',
    );
    writeFileSync(join(PERSIST, 'passphrase'), 'correct horse battery staple\n', { mode: 0o600 });
    writeFileSync(
      ANSWERS,
      `disk = "/dev/disk/by-id/virtio-bv-cut"\nconfirm = "bv-cut"\npassphrase_file = "${PERSIST}/passphrase"\n`,
    );
    sh('sync', []);
  }
  mkdirSync('/etc/mdadm', { recursive: true });
  if (!existsSync('/etc/mdadm/mdadm.conf')) writeFileSync('/etc/mdadm/mdadm.conf', '');
  sh('mount', ['--bind', join(PERSIST, 'fstab'), '/etc/fstab']);
  sh('mount', ['--bind', join(PERSIST, 'mdadm.conf'), '/etc/mdadm/mdadm.conf']);
}

const SETUP = ['setup', '--answers', ANSWERS, '--config', CONFIG, '--host', 'vmhost'];
// test-only: fast keyslots (the key derivation is not what these tests are about)
const FAST_KDF = { BTRFS_VAULT_TEST_PBKDF2_ITERATIONS: '1000' };
const ENV = { ...process.env, NO_COLOR: '1', ...FAST_KDF };

/** Setup until the hook says the step is done, then the power goes. */
async function setupUntil(id: string): Promise<never> {
  const child = spawn('node', [BIN, ...SETUP], {
    cwd: PROJECT,
    env: { ...ENV, BTRFS_VAULT_TEST_PAUSE_AFTER: id },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const seen = new Promise<void>((resolve) => {
    const watch = (c: Buffer) => {
      output += c.toString();
      process.stdout.write(c);
      if (output.includes(`BV_STEP_DONE ${id}`)) resolve();
    };
    child.stdout.on('data', watch);
    child.stderr.on('data', watch);
  });
  const exited = new Promise<number | null>((r) => child.on('close', r));
  const first = await Promise.race([seen.then(() => 'paused' as const), exited]);
  if (first !== 'paused') throw new Error(`setup ended (exit ${first}) before step ${id} was done:\n${output}`);
  return cutPower(`after ${id}`);
}

function lines(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((l) => pattern.test(l));
}

const phases: Record<string, Scenario[]> = {
  cut: [
    [
      `setup runs until step ${step} is done, then the power is cut`,
      async () => {
        systemDisk();
        await setupUntil(step!);
      },
    ],
  ],
  finish: [
    [
      'after the last power cut, setup resumes and finishes',
      (notes) => {
        systemDisk();
        const r = cli(SETUP, FAST_KDF);
        notes.push(
          r.stdout
            .split('\n')
            .filter((l) => /resuming|already done/.test(l))
            .join(' | '),
        );
        assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
        assert.match(r.stdout, /resuming the setup/);
        assert.ok(!existsSync(join(ETC, 'setup-state.json')), 'the state file is gone once setup is through');
      },
    ],
    [
      'nothing was created twice: one partition, array, LUKS header with two keyslots, VG, LV, filesystem, fstab and ARRAY line',
      (notes) => {
        const disk = vmDisk('bv-cut');
        assert.equal(lines(sh('lsblk', ['-n', '-o', 'TYPE', disk]), /^\s*part$/).length, 1, 'one partition');
        assert.equal(lines(sh('mdadm', ['--examine', '--scan']), /^ARRAY /).length, 1, 'one array');
        const conf = readFileSync('/etc/mdadm/mdadm.conf', 'utf8');
        assert.equal(lines(conf, /^ARRAY /).length, 1, 'one ARRAY line in mdadm.conf');
        const fstab = lines(readFileSync('/etc/fstab', 'utf8'), new RegExp(` ${MP} `));
        assert.deepEqual(fstab, [`/dev/backup/vmhost ${MP} btrfs noauto,compress=zstd 0 0`]);
        const opened = JSON.parse(ok(cli(['open', '--json', '--config', CONFIG])));
        assert.ok(
          opened.layers.every((l: { up: boolean }) => l.up),
          JSON.stringify(opened.layers),
        );
        const dump = sh('cryptsetup', ['luksDump', '/dev/md/backup']);
        const slots = lines(dump.slice(dump.indexOf('Keyslots:'), dump.indexOf('Tokens:')), /^\s+\d+: luks2/);
        notes.push(`keyslots: ${slots.map((s) => s.trim()).join(', ')}`);
        assert.equal(slots.length, 2, 'the passphrase and the keyfile, nothing more');
        assert.equal(
          sh(
            'cryptsetup',
            ['open', '--test-passphrase', '--key-file=-', '/dev/md/backup'],
            'correct horse battery staple',
          ),
          '',
        );
        assert.deepEqual(
          sh('pvs', ['--noheadings', '-o', 'pv_name'])
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean),
          ['/dev/mapper/enc-backup'],
        );
        assert.deepEqual(
          sh('vgs', ['--noheadings', '-o', 'vg_name'])
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean),
          ['backup'],
        );
        assert.deepEqual(
          sh('lvs', ['--noheadings', '-o', 'lv_name'])
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean),
          ['vmhost'],
        );
        assert.deepEqual(sh('ls', ['-A', MP]).split('\n').filter(Boolean), ['.token']);
        ok(cli(['close', '--config', CONFIG]));
      },
    ],
  ],
};

function ok(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

if (!phases[phase!]) throw new Error(`unknown phase ${phase}`);
await runScenarios(phases[phase!]!);
