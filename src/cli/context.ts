import type { VaultConfig } from '../config/config.js';
import { loadConfig } from '../config/load.js';
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
  // with --json, stdout carries one JSON object: the commands a dry-run shows go to stderr
  const out = opts.json ? process.stderr : process.stdout;
  return opts.dryRun ? new DryRunRunner(real, (line) => out.write(`${line}\n`)) : real;
}

export async function loadFor(opts: CommonOptions): Promise<VaultConfig> {
  return loadConfig(opts.config);
}
