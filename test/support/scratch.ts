import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new folder under the system's temporary folder, named for what it holds. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `btrfs-vault-${prefix}-`));
}

// Folders of scratchDir, removed when the test process ends.
const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** tempDir that goes away by itself when the test process ends. */
export function scratchDir(name: string): string {
  const dir = tempDir(name);
  made.push(dir);
  return dir;
}
