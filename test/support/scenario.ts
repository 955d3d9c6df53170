import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cli, spawnCli } from './cli.js';
import { makeLoopBtrfs, type LoopFs } from './loop-disk.js';
import { sh } from './sh.js';
import { tempDir } from './scratch.js';
import { hostRecordFile } from '../../src/system/host-record.js';

export interface Scenario {
  dir: string;
  src: LoopFs;
  dst: LoopFs;
  /** the source subvolume */
  data: string;
  configDir: string;
  config: string;
  token: Buffer;
  cli: typeof cli;
  spawnCli: typeof spawnCli;
  dispose(): void;
}

/**
 * A source btrfs with subvolume `data`, a target btrfs with a token, and a config
 * that ties them together, all on fresh loop devices.
 */
export function makeScenario(
  opts: { sizeMiB?: number; targetMiB?: number; extraToml?: string; sourceName?: string } = {},
): Scenario {
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
  writeFileSync(hashFile, `${createHash('sha512').update(token).digest('hex')}  ${join(dst.mountPoint, '.token')}\n`, {
    mode: 0o600,
  });
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
    cli,
    spawnCli,
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

/** `btrfs send` output size, measured on its own */
export function streamSize(args: string[]): number {
  return execFileSync('btrfs', args, { maxBuffer: 2 ** 30, stdio: ['ignore', 'pipe', 'ignore'] }).length;
}
