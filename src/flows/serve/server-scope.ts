import { UserError } from '../../core/errors.js';
import { DEFAULT_TARGET_RULES, type RetentionRules } from '../../core/retention.js';
import type { VaultConfig } from '../../config/config.js';
import { STATUS_DEFAULTS } from '../../config/defaults.js';
import { readServerSettings } from '../../config/serve-config.js';
import { parseAge } from '../../config/values.js';
import { checkServeRoot } from './serve-root.js';

// Whether status and prune work on a serve root (a backup server's) or on this host's
// own backups, and by which settings: --serve-root and --max-age win over [serve]; a
// config with [serve] and no target is a server's, so its root needs no option.

export interface ServerScope {
  serveRoot: string;
  maxAgeSeconds: number;
  retention: RetentionRules;
  /** who is told of a quiet host ([notify]); undefined: no config with [serve] */
  notifyConfig?: Pick<VaultConfig, 'file' | 'host' | 'notify'>;
}

const DURATION = /^\d+[hdw]$/;

/** undefined: not a server's verb (the host's own status or prune) */
export function serverScope(
  configFile: string,
  opts: { serveRoot?: string; maxAge?: string },
): ServerScope | undefined {
  if (opts.maxAge !== undefined && !DURATION.test(opts.maxAge))
    throw new UserError(
      `--max-age ${JSON.stringify(opts.maxAge)} is not a duration`,
      'write hours, days or weeks: 36h, 7d, 2w',
    );
  const settings = readServerSettings(configFile);
  if (opts.serveRoot === undefined && (!settings || settings.hasTarget)) {
    if (opts.maxAge !== undefined)
      throw new UserError(
        '--max-age goes with --serve-root (or a config with [serve] and no target)',
        "the max_age of this host's backups is [status] max_age in the config",
      );
    return undefined;
  }
  const serveRoot = opts.serveRoot ?? settings?.serve.root;
  if (serveRoot === undefined)
    throw new UserError(
      `${configFile} has [serve] but no root = "..." in it, so the serve root is not known`,
      'add root = "/srv/btrfs-vault" (the folder serve --init made) to [serve], or pass --serve-root DIR',
    );
  // as serve and doctor see it: a typo (root = "/srv") must not make every folder there a quiet host
  checkServeRoot(serveRoot);
  return {
    serveRoot,
    maxAgeSeconds:
      opts.maxAge !== undefined
        ? parseAge(opts.maxAge)
        : (settings?.serve.maxAgeSeconds ?? parseAge(STATUS_DEFAULTS.max_age)),
    retention: settings?.serve.retention ?? DEFAULT_TARGET_RULES,
    ...(settings ? { notifyConfig: settings.notifyConfig } : {}),
  };
}
