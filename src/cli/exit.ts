import { ExitCode, VaultError } from '../core/errors.js';

/** The one place errors become a message and an exit code. */
export function reportError(err: unknown, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  if (err instanceof VaultError) {
    write(`btrfs-vault: ${err.message}\n`);
    if (err.fix) write(`fix: ${err.fix}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  write(`btrfs-vault: internal error: ${e?.stack ?? String(err)}\nthis is a bug in btrfs-vault; please report it with the output above\n`);
  return ExitCode.internal;
}
