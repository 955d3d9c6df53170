import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { makeLoopBtrfs, sh, type LoopFs } from './loop-disk.js';
import { tempDir } from './scratch.js';
import { hostRecordFile } from '../../src/system/host-record.js';

/** The test build (scripts/bundle.mjs): the release's code with the test hooks (kill points). */
export const BIN = join(process.cwd(), 'dist', 'test-bundle', 'btrfs-vault.cjs');
/** What npm pack ships: no test hook in it. */
export const RELEASE_BIN = join(process.cwd(), 'bin', 'btrfs-vault.js');

export interface Scenario {
  dir: string;
  src: LoopFs;
  dst: LoopFs;
  /** the source subvolume */
  data: string;
  configDir: string;
  config: string;
  token: Buffer;
  cli(args: string[], env?: Record<string, string>): { code: number; stdout: string; stderr: string };
  spawnCli(args: string[], env?: Record<string, string>): ChildProcess;
  dispose(): void;
}

/**
 * A source btrfs with subvolume `data`, a target btrfs with a token, and a config
 * that ties them together, all on fresh loop devices.
 */
export function makeScenario(opts: { sizeMiB?: number; targetMiB?: number; extraToml?: string; sourceName?: string } = {}): Scenario {
  const dir = tempDir('scn');
  const src = makeLoopBtrfs(dir, 'src', opts.sizeMiB);
  const dst = makeLoopBtrfs(dir, 'dst', opts.targetMiB ?? opts.sizeMiB);
  const data = join(src.mountPoint, opts.sourceName ?? 'data');
  sh('btrfs', ['subvolume', 'create', data]);
  const configDir = join(dir, 'etc');
  mkdirSync(configDir, { mode: 0o700 });
  const token = randomBytes(64);
  writeFileSync(join(dst.mountPoint, '.token'), token, { mode: 0o600 });
  const hashFile = join(configDir, 'token.sha512');
  writeFileSync(hashFile, `${createHash('sha512').update(token).digest('hex')}  ${join(dst.mountPoint, '.token')}\n`, { mode: 0o600 });
  chmodSync(hashFile, 0o600);
  const config = join(configDir, 'config.toml');
  writeFileSync(
    config,
    `host = "testhost"\nsources = [${JSON.stringify(data)}]\nsnapshot_dir = ${JSON.stringify(join(src.mountPoint, 'snapshots'))}\n` +
      `${opts.extraToml ?? ''}\n[target]\nmountpoint = ${JSON.stringify(dst.mountPoint)}\n`,
  );
  return {
    dir,
    src,
    dst,
    data,
    configDir,
    config,
    token,
    cli(args, env = {}) {
      const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    spawnCli(args, env = {}) {
      return spawn('node', [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
    },
    dispose() {
      // snapshots and received subvolumes go with the file systems
      dst.dispose();
      src.dispose();
      rmSync(dir, { recursive: true, force: true });
      rmSync(hostRecordFile(config), { force: true });
    },
  };
}

/** A test body run on a fresh scenario, disposed of afterwards. */
export function withScenario(fn: (s: Scenario) => Promise<void> | void, opts?: Parameters<typeof makeScenario>[0]) {
  return async () => {
    const s = makeScenario(opts);
    try {
      await fn(s);
    } finally {
      s.dispose();
    }
  };
}

/** every subvolume of both file systems: a write shows up here */
export function allSubvolumes(s: Scenario): string {
  // generations move at a commit: commit first, so earlier writes are not counted later
  sh('sync', []);
  return [s.src.mountPoint, s.dst.mountPoint].map((m) => sh('btrfs', ['subvolume', 'list', m])).join('\n');
}

export function json(r: { stdout: string }) {
  return JSON.parse(r.stdout);
}

export async function waitFor<T>(probe: () => T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `btrfs send` output size, measured on its own */
export function streamSize(args: string[]): number {
  return execFileSync('btrfs', args, { maxBuffer: 2 ** 30, stdio: ['ignore', 'pipe', 'ignore'] }).length;
}
