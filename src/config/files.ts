import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../core/errors.js';
import { assertOnlyRootWrites } from './permissions.js';

/**
 * A file of the config (the config, the sources file): undefined when absent;
 * refused when it is no regular file, or when anyone but root could change it or
 * the folder it is in (as named and after resolving symlinks).
 */
export function readConfigFile(file: string, what: string): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR')
      throw new UserError(
        `${what} ${file} cannot exist: a part of its path is a file, not a folder`,
        `check the path${what === 'config file' ? ' given to --config' : ''}`,
      );
    throw cannotRead(what, file, err);
  }
  if (st.isDirectory()) {
    throw new UserError(
      `${what} ${file} is a folder`,
      what === 'config file'
        ? `point --config at the file in it, e.g. --config ${join(file, 'config.toml')}`
        : `remove the folder, or make it a file with one path a line`,
    );
  }
  if (!st.isFile())
    throw new UserError(
      `${what} ${file} is not a regular file`,
      `make it a regular file${what === 'config file' ? ', or point --config at one' : ''}`,
    );
  const real = realpathSync.native(file);
  assertOnlyRootWrites(dirname(file), 'config folder');
  if (dirname(real) !== dirname(file)) assertOnlyRootWrites(dirname(real), 'config folder');
  assertOnlyRootWrites(real, what);
  try {
    return readFileSync(real, 'utf8');
  } catch (err) {
    throw cannotRead(what, file, err);
  }
}

function cannotRead(what: string, file: string, err: unknown): UserError {
  const denied = (err as NodeJS.ErrnoException).code === 'EACCES';
  return new UserError(
    `cannot read ${what} ${file}: ${(err as Error).message}`,
    denied
      ? 'run btrfs-vault as root (btrfs needs it too), or check the permissions of the file and its folders'
      : 'check the file, its folder and their permissions',
  );
}
