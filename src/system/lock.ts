import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { LockedError } from '../core/errors.js';

export interface Lock {
  file: string;
  release(): void;
}

/** Where the lock for one config lives: one lock per config file. */
export function lockPath(configFile: string, dir = '/run/lock/btrfs-vault'): string {
  return `${dir}/${createHash('sha256').update(configFile).digest('hex').slice(0, 16)}.lock`;
}

/**
 * An exclusive lock per config: O_EXCL create with our pid inside. A lock whose
 * process is gone (killed, machine crashed) is stale and taken over.
 */
export function acquireLock(configFile: string, dir?: string): Lock {
  const file = lockPath(configFile, dir);
  mkdirSync(file.slice(0, file.lastIndexOf('/')), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n${configFile}\n`, { flag: 'wx', mode: 0o600 });
      let held = true;
      return {
        file,
        release() {
          if (!held) return;
          held = false;
          try {
            unlinkSync(file);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new LockedError(
          `another btrfs-vault run (pid ${pid}) is working with ${configFile}`,
          `wait for it to finish (lock file ${file}); nothing was done by this run`,
        );
      }
      unlinkSync(file); // stale: its process is gone
    }
  }
  throw new LockedError(`could not take the lock ${file}`, 'try again');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
