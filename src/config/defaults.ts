// Kept apart from the loader so the CLI can show it in --help without loading zod.
export const DEFAULT_CONFIG = '/etc/btrfs-vault/config.toml';
