import { DryRunRunner } from '../system/dry-run-runner.js';
import { ExecRunner } from '../system/exec-runner.js';
import type { Runner } from '../system/runner.js';

/** The composition root: the one place the runner is built. */
export function makeRunner(opts: { json?: boolean; dryRun?: boolean }): Runner {
  const real = new ExecRunner();
  // with --json, stdout carries one JSON object: the commands a dry-run shows go to stderr
  const out = opts.json ? process.stderr : process.stdout;
  return opts.dryRun ? new DryRunRunner(real, (line) => out.write(`${line}\n`)) : real;
}
