import { readFileSync } from 'node:fs';

// The version, written in one place: package.json. The release bundle has it inlined
// at build time (scripts/bundle.mjs defines BTRFS_VAULT_VERSION), since an installed
// bundle (/usr/lib/btrfs-vault) has no package.json beside it; the tsc build used by
// the unit tests reads package.json from the project.

declare const BTRFS_VAULT_VERSION: string | undefined;

export const VERSION: string = typeof BTRFS_VAULT_VERSION === 'string' ? BTRFS_VAULT_VERSION : packageVersion();

function packageVersion(): string {
  // dist/src/cli/version.js -> the project's package.json
  const file = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
