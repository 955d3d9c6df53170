import { statSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import { quote } from '../core/shell-quote.js';

/**
 * Root is trusted, and so is whoever runs this: a file of the user running it can be
 * changed only by that user, who could run anything anyway (as ssh treats ~/.ssh).
 */
function trustedOwner(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

const trustedWho = (joiner: 'and' | 'or'): string =>
  process.geteuid?.() === 0 ? 'root' : `root ${joiner} you (uid ${process.geteuid?.()})`;

/**
 * Secrets (keyfile, token hash) must be root's alone: owned by root, no bits for
 * group or others. Refuse otherwise, naming the commands that fix it.
 */
export async function assertPrivateFile(file: string, what: string): Promise<void> {
  assertPrivateFileNow(file, what);
}

/** assertPrivateFile for a caller that cannot wait (the token check of a disk chosen before a run). */
export function assertPrivateFileNow(file: string, what: string): void {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UserError(`${what} ${file} does not exist`, `create it, or point to it in the config`);
  }
  const fixes: string[] = [];
  if (!trustedOwner(st.uid)) fixes.push(`chown root:root ${quote(file)}`);
  if ((st.mode & 0o077) !== 0) fixes.push(`chmod 600 ${quote(file)}`);
  if (fixes.length > 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
    throw new UserError(
      `${what} ${file} must be owned by ${trustedWho('or')} and private (it is uid ${st.uid}, mode ${mode})`,
      `run: ${fixes.join(' && ')}`,
    );
  }
}

/**
 * What decides what is backed up, where, and which keyfile is read (the config, the
 * sources file, the folder holding them) must be changeable by root alone: owned by
 * root, no write bit for group or others. A sticky folder does not help: anyone
 * could still add a `sources` file to it. Refuse otherwise, naming the fix.
 */
export function assertOnlyRootWrites(path: string, what: string): void {
  const st = statSync(path);
  const fixes: string[] = [];
  if (!trustedOwner(st.uid)) fixes.push(`chown root:root ${quote(path)}`);
  if ((st.mode & 0o022) !== 0) fixes.push(`chmod go-w ${quote(path)}`);
  if (fixes.length === 0) return;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  throw new UserError(
    `${what} ${path} can be changed by others than ${trustedWho('and')} (owner uid ${st.uid}, mode ${mode}); whoever can change it decides what is backed up and where`,
    `run: ${fixes.join(' && ')}`,
  );
}
