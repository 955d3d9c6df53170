import { lstatSync, readdirSync } from 'node:fs';
import { ExitCode, VaultError } from '../../core/errors.js';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import type { Runner } from '../../system/runner.js';
import { INCOMING } from './serve-root.js';

// serve's staging folders, `<root>/.incoming/<NAME>.<pid>`: a receive's stream lands in
// one, is checked there, and is put in place from there. Everything in .incoming is
// serve's own, so what a dead serve left there is deleted by the next one.

const STAGING = /^(.+)\.(\d+)$/;

export function stagingDir(root: string, name: string, pid = process.pid): string {
  return join(root, INCOMING, `${name}.${pid}`);
}

/** The staging folder and the subvolumes in it, gone (a program that fails is reported by throwing). */
export async function removeStaging(runner: Runner, dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return; // not there
  }
  const subvolumes = entries.filter((e) => isSubvolume(join(dir, e)));
  if (subvolumes.length > 0) await runner.run(btrfs.deleteMany(subvolumes.map((e) => join(dir, e))));
  await runner.run(['rmdir', ['--', dir]]);
}

/**
 * Staging folders whose serve is gone (the pid in the name runs no more), deleted, before
 * this serve makes its own; errors are left for the next serve.
 */
export async function removeDeadStaging(runner: Runner, root: string): Promise<string[]> {
  if (!checkIncoming(root)) return [];
  let entries: string[];
  try {
    entries = readdirSync(join(root, INCOMING));
  } catch {
    return [];
  }
  const dead = entries.filter((e) => {
    const m = STAGING.exec(e);
    // one of this pid's is a dead serve's too: this one has made none yet
    return m !== null && (Number(m[2]) === process.pid || !alive(Number(m[2])));
  });
  const removed: string[] = [];
  for (const e of dead) {
    try {
      await removeStaging(runner, join(root, INCOMING, e));
      removed.push(e);
    } catch {
      /* another serve may be removing it right now; the next one tries again */
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isSubvolume(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.ino === 256;
  } catch {
    return false;
  }
}

/**
 * `<root>/.incoming` is a real folder of serve's, or not there yet (false): a link in its
 * place would put the staging folders, and their deletion, wherever it points.
 */
export function checkIncoming(root: string): boolean {
  const dir = join(root, INCOMING);
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return false;
  }
  if (!st.isDirectory())
    throw new VaultError(
      `${dir}, serve's staging folder, is not a folder (a link or a file): serve neither receives into it nor deletes in it`,
      ExitCode.failed,
      `it is not serve's: move it away on the server (mv -- ${dir} ${dir}.moved)`,
    );
  return true;
}
