import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { stackWithConfig } from './create-stack.js';
import { BIN, cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { tree } from '../../support/tree.js';
import {
  assertInVm,
  hostRequest,
  OUT,
  PROJECT,
  plugDisk,
  runScenarios,
  unplugDisk,
  vmDisk,
  type Scenario,
} from './support.js';

// Faults of the disk stack while a backup runs: the backup disk pulled out (PCI
// hot-unplug through qemu's machine protocol) and put back; one member of a full
// mirror pulled out. The source disk is slowed down while these run, so that the
// transfer is still going when the disk goes.

assertInVm();
const phase = process.argv[2];
// the kernel's I/O errors stay off the console, where the requests to the host go
// (they are in the guest log at the end)
writeFileSync('/proc/sys/kernel/printk', '1');
const SRC = '/srv/src';
const DATA = join(SRC, 'data');
const ETC = join(OUT, 'etc-faults');
const MP = '/media/backup';
const SNAPSHOTS = join(SRC, 'snapshots');
// the source disk's reads while a fault is injected: 12 MiB take about 6 s
const SLOW = 2 * 1024 * 1024;

function json(r: { code: number; stdout: string; stderr: string }, code = 0) {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout);
}

function source(): void {
  sh('mkfs.btrfs', ['-q', '-f', vmDisk('bv-src')]);
  sh('mkdir', ['-p', SRC]);
  sh('mount', [vmDisk('bv-src'), SRC]);
  sh('btrfs', ['subvolume', 'create', DATA]);
  for (let i = 0; i < 50; i++) writeFileSync(join(DATA, `note-${i}.txt`), `note ${i}\n`);
}

/** New data for the next backup, on the disk and out of the page cache, so the send reads the slowed disk. */
function bigChange(name: string, mib: number): void {
  writeFileSync(join(DATA, name), randomBytes(mib * 1024 * 1024));
  appendFileSync(join(DATA, 'note-1.txt'), `${name}\n`);
  sh('sync', []);
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

function receiving(): boolean {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      // btrfs receive, also when started through a wrapper (setpriv, ...)
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a, i) => a.endsWith('btrfs') && argv[i + 1] === 'receive')) return true;
    } catch {
      /* gone */
    }
  }
  return false;
}

/**
 * Starts a backup with the source disk slowed down, waits until its receive runs, then
 * does `fault` while it streams.
 */
async function backupWithFault(
  config: string,
  fault: () => Promise<void>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  await hostRequest(`throttle-read bv-src ${SLOW}`);
  try {
    return await faultDuringBackup(config, fault);
  } finally {
    await hostRequest('throttle-read bv-src 0');
  }
}

async function faultDuringBackup(
  config: string,
  fault: () => Promise<void>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('node', [BIN, 'backup', '--json', '--config', config], {
    cwd: PROJECT,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  const end = Date.now() + 60_000;
  while (!receiving()) {
    if (Date.now() > end || child.exitCode !== null)
      throw new Error(`the transfer never started\n${stderr}\n${stdout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(receiving(), 'still streaming when the fault comes');
  await fault();
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await closed;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

let config = '';
let afterMirrorFault = '';
let clock = Date.now();
/** seconds since the last lap, for the notes: where a scenario's time goes */
function lap(notes: string[], what: string): void {
  notes.push(`${what} ${((Date.now() - clock) / 1000).toFixed(1)} s`);
  clock = Date.now();
}

const phases: Record<string, Scenario[]> = {
  unplug: [
    [
      'one member of a full mirror pulled out mid-backup: the backup completes, open says the array is degraded',
      async (notes) => {
        clock = Date.now();
        source();
        lap(notes, 'source');
        config = await stackWithConfig(
          ETC,
          {
            serials: ['bv-m1', 'bv-m2'],
            label: 'backup',
            array: '/dev/md/backup',
            luksName: 'enc-backup',
            volumeGroup: 'backup',
            host: 'vmhost',
            mountpoint: MP,
          },
          [{ path: DATA, name: 'data' }],
          SNAPSHOTS,
        );
        lap(notes, 'stack');
        bigChange('big-1.bin', 12);
        lap(notes, 'data');
        const r = await backupWithFault(config, async () => (lap(notes, 'receive running'), await unplugDisk('bv-m2')));
        lap(notes, 'backup');
        assert.equal(r.code, 0, r.stderr);
        afterMirrorFault = JSON.parse(r.stdout).sources[0].snapshot;
        const raid = json(cli(['open', '--json', '--config', config])).layers[0];
        notes.push(raid.detail);
        assert.match(raid.detail, /\[U_\] degraded: 1 of 2 mirrors/);
        assert.match(raid.detail, /missing: 1 member, not attached/);
        // the mirror was whole when the backup began: status warns now, for monitoring
        const status = JSON.parse(cli(['status', '--json', '--config', config]).stdout);
        assert.equal(status.target.array.degraded, true);
        assert.equal(status.target.array.missing, 1);
        assert.ok(
          status.warnings.some((w: { code: string }) => w.code === 'degraded'),
          JSON.stringify(status.warnings),
        );
        assert.equal(cli(['status', '--check', '--config', config]).code, 1);
        assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA), 'the backup is complete');
        json(cli(['close', '--json', '--config', config]));
      },
    ],
    [
      'the backup disk (its last member) pulled out mid-transfer: the run fails with a clear message, latest stays, the stack is closed',
      async (notes) => {
        bigChange('big-2.bin', 12);
        clock = Date.now();
        const r = await backupWithFault(config, async () => (lap(notes, 'receive running'), await unplugDisk('bv-m1')));
        lap(notes, 'backup');
        const report = JSON.parse(r.stdout);
        notes.push(`exit ${r.code}: ${report.sources[0].error ?? report.error}`.replace(/\s+/g, ' '));
        assert.equal(r.code, 3, r.stderr);
        assert.equal(report.sources[0].status, 'failed');
        assert.match(
          report.sources[0].error,
          /the backup disk failed to read or write during the transfer \(an I\/O error\)[\s\S]*btrfs receive[\s\S]*Input\/output error/,
        );
        assert.match(report.sources[0].fix, /check the disk's cable and health/);
        assert.equal(
          readlinkSync(join(SNAPSHOTS, 'data', 'latest')),
          afterMirrorFault,
          'latest on the source did not move',
        );
        // what the run opened it closed, although the disk is gone (else it could not come back without a reboot)
        assert.ok(
          !existsSync('/dev/mapper/enc-backup') && !existsSync('/dev/mapper/backup-vmhost'),
          sh('dmsetup', ['ls']),
        );
        assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${MP} `));
        assert.doesNotMatch(readFileSync('/proc/mdstat', 'utf8'), /^md\S+ : active/m, 'the array is stopped');
      },
    ],
    [
      'both disks plugged back: open names the stale member, latest did not move; the next backup cleans up and continues from the newest complete pair',
      async (notes) => {
        await plugDisk('bv-m1');
        await plugDisk('bv-m2');
        const raid = json(cli(['open', '--json', '--config', config])).layers[0];
        notes.push(raid.detail);
        assert.match(raid.detail, /\[U_\] degraded/);
        assert.match(raid.detail, /left out: vd[a-z]1 \(\/dev\/disk\/by-id\/virtio-bv-m2\)/);
        assert.equal(
          readlinkSync(join(MP, 'data', 'latest')),
          afterMirrorFault,
          'latest on the backup disk did not move',
        );
        const r = json(cli(['backup', '--json', '--config', config])).sources[0];
        notes.push(`${r.mode} from ${r.parent}; cleaned ${JSON.stringify(r.cleaned)}`);
        assert.equal(r.mode, 'incremental');
        assert.equal(r.parent, afterMirrorFault);
        const listing = json(cli(['list', '--json', '--config', config]));
        assert.deepEqual(listing.sources[0].incomplete, []);
        assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA));
        json(cli(['close', '--json', '--config', config]));
      },
    ],
  ],
};

if (!phases[phase!]) throw new Error(`unknown phase ${phase}`);
await runScenarios(phases[phase!]!);
process.stdout.write(`--- the kernel's messages ---\n${sh('dmesg', []).split('\n').slice(-80).join('\n')}\n`);
