import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RunResult } from './runner.js';

// A program we do not know (the notify command): it may hang, leave a child holding
// its output open, or write without end. It runs in a process group of its own, for
// at most `timeoutMs` (then SIGTERM to the group, SIGKILL after a grace), and only the
// last `outputLimit` bytes of each output are kept; the rest is read and dropped.

/** after SIGTERM, the group has this long before SIGKILL */
const KILL_GRACE_MS = 5_000;
/** after the program ended, what is still in its pipes is read for this long at most (a child it left may hold them open) */
const DRAIN_MS = 200;

export interface BoundedOptions {
  input?: string | Buffer;
  env: Record<string, string | undefined>;
  timeoutMs?: number;
  outputLimit: number;
  /** the group is ended once stdout passes outputLimit (an answer that can only be refused) */
  endPastLimit?: boolean;
}

export interface BoundedResult extends RunResult {
  signal?: string;
  /** spawn failed (the prefix program itself is missing) */
  spawnError?: Error;
}

export function runBounded(command: readonly string[], o: BoundedOptions): Promise<BoundedResult> {
  return new Promise((resolve) => {
    // child_process, not execa: the program's group is ended as a whole and only the
    // last bytes of its output are kept while it writes on (execa's maxBuffer ends the
    // program instead). detached: a session and process group of its own.
    const child = spawn(command[0]!, command.slice(1), {
      detached: true,
      env: o.env,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const group = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* the group is gone */
      }
    };
    const stdout = keepLast(child.stdout!, o.outputLimit, o.endPastLimit ? () => group('SIGKILL') : undefined);
    const stderr = keepLast(child.stderr!, o.outputLimit);
    if (o.input !== undefined) {
      child.stdin!.on('error', () => {}); // a program that does not read its stdin is no error of ours
      child.stdin!.end(o.input);
    }
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const timer =
      o.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            group('SIGTERM');
            killer = setTimeout(() => group('SIGKILL'), KILL_GRACE_MS);
          }, o.timeoutMs);
    let done = false;
    const finish = (r: BoundedResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killer);
      if (timedOut) group('SIGKILL'); // what is left of a group that ran out of time
      child.stdout!.destroy();
      child.stderr!.destroy();
      resolve({
        ...r,
        stdout: stdout.text(),
        stderr: stderr.text(),
        timedOut,
        outputCut: stdout.dropped() + stderr.dropped(),
      });
    };
    child.on('error', (err) => finish({ stdout: '', stderr: '', exitCode: -1, spawnError: err }));
    child.on('exit', (code, signal) => {
      const r = { stdout: '', stderr: '', exitCode: code ?? -1, signal: signal ?? undefined };
      const drained = setTimeout(() => finish(r), DRAIN_MS);
      child.on('close', () => {
        clearTimeout(drained);
        finish(r);
      });
    });
  });
}

/** The last `limit` bytes of a stream, and how many bytes before them were dropped; `past`: called once when there are more. */
function keepLast(stream: Readable, limit: number, past?: () => void): { text(): string; dropped(): number } {
  let chunks: Buffer[] = [];
  let kept = 0;
  let dropped = 0;
  stream.on('data', (c: Buffer) => {
    chunks.push(c);
    kept += c.length;
    if (past && kept + dropped > limit) {
      past();
      past = undefined;
    }
    if (kept > 2 * limit) {
      const all = Buffer.concat(chunks);
      dropped += all.length - limit;
      chunks = [all.subarray(all.length - limit)];
      kept = limit;
    }
  });
  stream.on('error', () => {});
  return {
    text() {
      const all = Buffer.concat(chunks);
      const cut = Math.max(0, all.length - limit);
      return all.subarray(cut).toString('utf8');
    },
    dropped: () => dropped + Math.max(0, kept - limit),
  };
}
