import { statSync } from 'node:fs';
import { UserError } from '../core/errors.js';

/**
 * Secrets (keyfile, token hash) must be root's alone: owned by root, no bits for
 * group or others. Refuse otherwise, naming the commands that fix it.
 */
export async function assertPrivateFile(file: string, what: string): Promise<void> {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UserError(`${what} ${file} does not exist`, `create it, or point to it in the config`);
  }
  const fixes: string[] = [];
  if (st.uid !== 0) fixes.push(`chown root:root ${file}`);
  if ((st.mode & 0o077) !== 0) fixes.push(`chmod 600 ${file}`);
  if (fixes.length > 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
    throw new UserError(
      `${what} ${file} must be owned by root and private (it is uid ${st.uid}, mode ${mode})`,
      `run: ${fixes.join(' && ')}`,
    );
  }
}
