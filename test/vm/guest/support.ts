import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
  if (!/^vd[a-z]$/.test(name) || actual !== serial) throw new Error(`guard: ${dev} has serial ${actual}, not ${serial}`);
  return dev;
}

export function sh(file: string, args: string[], input?: string): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}

export function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('node', [join(PROJECT, 'dist', 'test-bundle', 'btrfs-vault.cjs'), ...args], { encoding: 'utf8', cwd: PROJECT, env: { ...process.env, NO_COLOR: '1', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export { tree } from '../../support/tree.js';

export function waitFor(path: string, ms = 15_000): void {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    sh('udevadm', ['settle']);
    spawnSync('sleep', ['0.1']);
  }
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  seconds: number;
  error?: string;
  notes: string[];
}

/** Runs named scenarios in order; a failure is recorded and the rest still run. */
export async function runScenarios(list: [string, (notes: string[]) => Promise<void> | void][]): Promise<void> {
  const results: ScenarioResult[] = [];
  for (const [name, fn] of list) {
    const t = Date.now();
    const notes: string[] = [];
    try {
      await fn(notes);
      results.push({ name, ok: true, seconds: (Date.now() - t) / 1000, notes });
    } catch (err) {
      results.push({ name, ok: false, seconds: (Date.now() - t) / 1000, error: (err as Error).stack ?? String(err), notes });
    }
    writeFileSync(join(OUT, 'result.json'), JSON.stringify({ scenarios: results }, null, 2));
  }
}

/**
 * Runs a command in a real pseudo-terminal (util-linux `script`) and answers its
 * prompts: each step waits for a pattern on the screen, then types keys (an answer
 * given as a function may first act, e.g. start another run while the prompt waits).
 */
export async function drivePty(args: string[], steps: [RegExp, string | (() => string)][], timeoutMs = 300_000): Promise<{ code: number | null; screen: string }> {
  const { spawn } = await import('node:child_process');
  const cmd = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: PROJECT, env: { ...process.env, TERM: 'xterm-256color', COLUMNS: '160', LINES: '50' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (c: Buffer) => (screen += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (screen += c.toString('utf8')));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  const end = Date.now() + timeoutMs;
  let seen = 0;
  for (const [pattern, answer] of steps) {
    for (;;) {
      const rest = screen.slice(seen);
      const m = pattern.exec(rest);
      if (m) {
        seen += m.index + m[0].length;
        break;
      }
      if (Date.now() > end || child.exitCode !== null) throw new Error(`pty: never saw ${pattern}\n--- screen ---\n${screen.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 200));
    const keys = typeof answer === 'function' ? answer() : answer;
    for (const ch of keys.match(/\x1b\[[A-D]|[\s\S]/g) ?? []) {
      child.stdin.write(ch);
      await new Promise((r) => setTimeout(r, 15));
    }
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(end - Date.now(), 1000));
  const code = await closed;
  clearTimeout(timer);
  return { code, screen };
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
  waitFor(`/dev/disk/by-id/virtio-${serial}`, 30_000);
  return vmDisk(serial);
}

/** Asks the host to cut the power now (qemu is killed); never returns. */
export async function cutPower(reason: string): Promise<never> {
  writeFileSync('/dev/console', `\nBV_HOST ${++requests} power-cut ${reason}\n`);
  for (;;) await new Promise((r) => setTimeout(r, 60_000));
}
