import type { SourceConfig, VaultConfig } from '../config/config.js';
import { loadConfig } from '../config/load.js';
import { UserError } from '../core/errors.js';
import { sourceName } from '../core/naming.js';
import { resolve, join } from 'node:path';
import { DryRunRunner } from '../system/dry-run-runner.js';
import { ExecRunner } from '../system/exec-runner.js';
import type { Runner } from '../system/runner.js';

export interface CommonOptions {
  config?: string;
  json?: boolean;
  dryRun?: boolean;
}

/** The composition root: the one place the runner is built. */
export function makeRunner(opts: CommonOptions): Runner {
  const real = new ExecRunner();
  return opts.dryRun ? new DryRunRunner(real, (line) => process.stdout.write(`${line}\n`)) : real;
}

export async function loadFor(opts: CommonOptions): Promise<VaultConfig> {
  return loadConfig(opts.config);
}

/**
 * Sources for this run: paths given on the command line (configured ones keep
 * their settings), the sources file with -S, or every configured source.
 */
export function pickSources(config: VaultConfig, paths: readonly string[], fromFile: boolean): SourceConfig[] {
  if (fromFile) {
    if (config.sourcesFromFile.length === 0) {
      throw new UserError(`-S: there is no sources file with paths in it at ${join(config.dir, 'sources')}`, 'write one path a line into it');
    }
    return config.sourcesFromFile;
  }
  if (paths.length === 0) {
    if (config.sources.length === 0) {
      throw new UserError(`nothing to back up: ${config.file} names no sources and there is no sources file beside it`, 'add sources = ["/", "/home"] to the config, or name the paths: btrfs-vault backup /home');
    }
    return config.sources;
  }
  return paths.map((p) => {
    const abs = resolve(p);
    return (
      config.sources.find((s) => s.path === abs) ?? { path: abs, name: sourceName(abs), snapshotDir: join(config.snapshotDir, sourceName(abs)) }
    );
  });
}
