import { mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Private scratch folders a step reads through (a mount point for a read-only look, a
// copy of a header to test a passphrase on): made and removed by the step itself, in a
// dry-run too, because they change nothing btrfs-vault or the host keeps. Every other
// file effect goes through the runner port (`Runner.change`).

/** A new folder only root can enter (mkdtemp: mode 0700, a name nobody had): `<prefix>XXXXXX`. */
export function makeScratchDir(prefix: string): string {
  return mkdtempSync(prefix);
}

/** Takes a scratch folder away again, with what is in it. */
function removeScratchDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Takes a scratch mount point away: only while it is empty, never what is still mounted there. */
export function removeScratchMountPoint(dir: string): void {
  rmdirSync(dir);
}

/** Runs `use` with a private copy of `data` (mode 0600, in a scratch folder of its own), removed after. */
export async function withScratchCopy<T>(name: string, data: Buffer, use: (path: string) => Promise<T>): Promise<T> {
  const dir = makeScratchDir(join(tmpdir(), `btrfs-vault-${name}-`));
  try {
    const copy = join(dir, name);
    writeFileSync(copy, data, { mode: 0o600 });
    return await use(copy);
  } finally {
    removeScratchDir(dir);
  }
}
