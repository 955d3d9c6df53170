import type { VaultConfig } from '../config/config.js';
import { loadConfig } from '../config/load.js';

export interface CommonOptions {
  config?: string;
  json?: boolean;
  dryRun?: boolean;
}

// apart from the config's code: serve, started once per verb of a client, reads no config
export { makeRunner } from './make-runner.js';

export async function loadFor(opts: CommonOptions): Promise<VaultConfig> {
  return loadConfig(opts.config);
}
