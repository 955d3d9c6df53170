import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForDevice } from '../../support/wait.js';

// Runs inside the test VM only. Every disk is found by its "bv-" serial and checked
// before anything destructive touches it.

export const OUT = process.env.BV_OUT ?? '/bv-out';
export const PROJECT = process.cwd();

export function assertInVm(): void {
  if (!readFileSync('/proc/cmdline', 'utf8').includes('bv_vm=1') || process.env.BV_VM !== '1') {
    throw new Error('guard: this script runs only inside the btrfs-vault test VM');
  }
}

/** /dev/vdX of the virtual disk with this serial, after checking it is one of ours. */
export function vmDisk(serial: string): string {
  assertInVm();
  if (!serial.startsWith('bv-')) throw new Error(`guard: ${serial} is not a test disk serial`);
  const dev = realpathSync(`/dev/disk/by-id/virtio-${serial}`);
  const name = dev.replace('/dev/', '');
  const actual = readFileSync(`/sys/block/${name}/serial`, 'utf8').trim();
  if (!/^vd[a-z]$/.test(name) || actual !== serial)
    throw new Error(`guard: ${dev} has serial ${actual}, not ${serial}`);
  return dev;
}

/** A scenario of a boot: its name, and its body, which may add notes to the result. */
export type Scenario = [string, (notes: string[]) => Promise<void> | void];

export interface ScenarioResult {
  name: string;
  ok: boolean;
  seconds: number;
  error?: string;
  notes: string[];
}

/** Runs named scenarios in order; a failure is recorded and the rest still run. */
export async function runScenarios(list: Scenario[]): Promise<void> {
  const results: ScenarioResult[] = [];
  for (const [name, fn] of list) {
    const t = Date.now();
    const notes: string[] = [];
    try {
      await fn(notes);
      results.push({ name, ok: true, seconds: (Date.now() - t) / 1000, notes });
    } catch (err) {
      results.push({
        name,
        ok: false,
        seconds: (Date.now() - t) / 1000,
        error: (err as Error).stack ?? String(err),
        notes,
      });
    }
    writeFileSync(join(OUT, 'result.json'), JSON.stringify({ scenarios: results }, null, 2));
  }
}

let requests = 0;

/**
 * Asks the host to act on this VM (test/vm/harness.ts: unplug, plug, throttle-read,
 * power-cut): one line on the console, answered with a file in the share.
 */
export async function hostRequest(request: string, timeoutMs = 60_000): Promise<void> {
  const n = ++requests;
  // one write of a whole line, so the host reads it in one piece
  writeFileSync('/dev/console', `\nBV_HOST ${n} ${request}\n`);
  const ack = join(OUT, `host-ack-${n}`);
  const end = Date.now() + timeoutMs;
  while (!existsSync(ack)) {
    if (Date.now() > end) throw new Error(`the host did not answer "${request}" within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const answer = readFileSync(ack, 'utf8');
  if (answer !== 'ok') throw new Error(`host: ${request}: ${answer}`);
}

/** Pulls the disk out (PCI hot-unplug) and waits until the guest no longer has it. */
export async function unplugDisk(serial: string): Promise<void> {
  const dev = vmDisk(serial).replace('/dev/', '');
  await hostRequest(`unplug ${serial}`);
  const end = Date.now() + 30_000;
  while (existsSync(`/sys/block/${dev}`)) {
    if (Date.now() > end) throw new Error(`${dev} (${serial}) is still there after the unplug`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Puts the disk back and waits for udev to name it again. */
export async function plugDisk(serial: string): Promise<string> {
  await hostRequest(`plug ${serial}`);
  waitForDevice(`/dev/disk/by-id/virtio-${serial}`, 30_000);
  return vmDisk(serial);
}

/** Asks the host to cut the power now (qemu is killed); never returns. */
export async function cutPower(reason: string): Promise<never> {
  writeFileSync('/dev/console', `\nBV_HOST ${++requests} power-cut ${reason}\n`);
  for (;;) await new Promise((r) => setTimeout(r, 60_000));
}
