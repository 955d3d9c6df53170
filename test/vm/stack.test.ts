import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bootVm, makeDisk, requireVmTools, vmTempDir, type VmDisk, type VmRun } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';

// The whole disk stack in a throw-away VM (this machine's kernel has no md and no
// device-mapper). Three boots share disk images: a -> b is a reboot ("unplug").

let dir: string;
let disks: Record<string, VmDisk>;
let share: string;

before(() => {
  requireRoot();
  requireVmTools();
  dir = vmTempDir();
  share = join(dir, 'share');
  mkdirSync(share);
  disks = { a: makeDisk(dir, 'bv-a'), src: makeDisk(dir, 'bv-src'), f: makeDisk(dir, 'bv-f') };
});
after(() => rmSync(dir, { recursive: true, force: true }));

function check(run: VmRun, expected: number): void {
  const result = run.result as { scenarios: { name: string; ok: boolean; error?: string; seconds: number; notes: string[] }[] } | undefined;
  const context = `\n--- guest log ---\n${run.guestLog.slice(-4000)}\n--- console ---\n${run.console.slice(-3000)}`;
  assert.ok(result, `the guest brought back no result (exit ${run.exitCode}, ${run.seconds} s)${context}`);
  for (const s of result.scenarios) {
    process.stdout.write(`# vm: ${s.ok ? 'ok' : 'FAILED'} ${s.name} (${s.seconds} s)${s.notes.length ? ` — ${s.notes.join('; ')}` : ''}\n`);
  }
  for (const s of result.scenarios) assert.ok(s.ok, `${s.name}: ${s.error}${context}`);
  assert.equal(result.scenarios.length, expected, `all scenarios ran${context}`);
  assert.equal(run.exitCode, 0, `guest exit code${context}`);
}

async function boot(phase: string, ds: VmDisk[]): Promise<VmRun> {
  const run = await bootVm({ dir, share, disks: ds, script: 'stack', args: [phase], timeoutMs: 400_000 });
  process.stdout.write(`# vm: boot ${phase} took ${run.seconds.toFixed(1)} s\n`);
  return run;
}

test('vm boot a: create the stack, open/backup/close round trip, idempotent open and close, busy mount', async () => {
  check(await boot('a', [disks.a!, disks.src!]), 4);
});

test('vm boot b: after the reboot, open assembles the degraded array and backups continue', async () => {
  check(await boot('b', [disks.a!, disks.src!]), 1);
});

test('vm boot c: a foreign disk with the same layout is refused and closed again', async () => {
  check(await boot('c', [disks.f!, disks.src!]), 1);
});
