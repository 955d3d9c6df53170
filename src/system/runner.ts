import { quote } from '../core/shell-quote.js';
import type { Readable, Transform } from 'node:stream';
import type { FileChange } from './file-change.js';

export { quote };

// The one port through which every external program runs and every file is changed. A
// command is data: [file, args], never a shell string; a file change is data too
// (`FileChange`). So a dry-run prints them, the test fake records them, and no caller
// can change anything another way.

export type Argv = readonly [file: string, args: readonly string[]];

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** a bounded run (timeoutMs) that ran out of time: its process group was ended */
  timedOut?: boolean;
  /** a bounded run (outputLimit): bytes of output read and dropped, the first ones */
  outputCut?: number;
}

export interface RunOptions {
  /** Data for the program's stdin (e.g. a passphrase); never logged. */
  input?: string | Buffer;
  /** Return the result on a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** More environment for the program (never secrets: they go on stdin) */
  env?: Record<string, string>;
  /** Output holds names (bytes): decoded exactly (core/byte-names.ts), not as UTF-8. */
  bytes?: boolean;
  /**
   * For a program we do not know (the notify command): it runs in a process group of its
   * own, which is sent SIGTERM after this many ms, SIGKILL a few seconds later; the run
   * does not wait for children it leaves holding its output.
   */
  timeoutMs?: number;
  /** keep only the last this many bytes of each output (the rest is read and dropped) */
  outputLimit?: number;
  /** with outputLimit: the program is ended once its stdout passes it (nothing more is read) */
  endPastLimit?: boolean;
}

export interface PipeOptions {
  signal?: AbortSignal;
  /** Called with the number of bytes that went through the pipe so far. */
  onProgress?: (bytes: number) => void;
  /**
   * The stream passes through this on its way (a restore's guard on a server's stream):
   * its error ends both programs and is the call's error. Without it the stream never
   * passes through Node.
   */
  through?: Transform;
  /**
   * No byte through the pipe for this many ms (and, once the writer ended, the reader
   * not ended in that time): both programs are killed and the call fails with a
   * StalledError. Undefined: no limit.
   */
  stallMs?: number;
}

export interface PipeResult {
  /** bytes the writer wrote into the pipe, exactly */
  bytes: number;
  /** what the reader wrote on its stdout (its first 1 MiB): a server's answer */
  output?: string;
}

export interface StreamOptions {
  /**
   * The program's stdin, read as it comes (serve: a client's stream through its guard).
   * An error of it ends the program (SIGKILL) and is the call's error.
   */
  input?: Readable;
  /** The program writes straight to our stdout (serve's send: the client's channel, never through Node). */
  toStdout?: boolean;
}

/** The answer of `hold`: the program runs and holds, or it ended at once (with its code). */
export type HoldResult = { held: true; release(): Promise<void> } | { held: false; exitCode: number; stderr: string };

export interface Runner {
  /**
   * Whether the changes asked of this runner (run, pipe, change) really happen: false in
   * a dry-run. What a change would make (a device, a snapshot, a mount, freed space) then
   * never exists, so a caller must not wait for it or read it; that is all this is for.
   */
  readonly changesTakeEffect: boolean;
  /** A command that changes nothing (inspection); it runs even in dry-run. */
  query(argv: Argv, options?: RunOptions): Promise<RunResult>;
  /** A command that changes something; in dry-run it is printed, not run. */
  run(argv: Argv, options?: RunOptions): Promise<RunResult>;
  /** `from | to`, e.g. btrfs send | btrfs receive; in dry-run it is printed. */
  pipe(from: Argv, to: Argv, options?: PipeOptions): Promise<PipeResult>;
  /** A program whose stdin or stdout is a stream (serve's receive and send); in dry-run it is printed. */
  stream(argv: Argv, options: StreamOptions): Promise<RunResult>;
  /** A pipe() is coming: an adapter may get ready for it now, while other work runs. */
  preparePipe?(): void;
  /** A change to files, made without a program (a symlink, a record); in dry-run it is printed. */
  change(change: FileChange): void;
  /** Shows what a dry-run cannot show as a change (a check it would make); the others say nothing. */
  note(description: string): void;
  /**
   * Starts a program that holds something for as long as it runs (perl holding locks,
   * waiting for the end of its stdin); it dies with this process at the latest.
   * Resolves once it wrote a line, or when it ended at once.
   */
  hold(argv: Argv): Promise<HoldResult>;
}

/**
 * A path for a program that takes no `--` (mdadm, fuser): `./-x` is the same file and
 * no option. Every other program gets its paths after `--`.
 */
export function operand(path: string): string {
  return path.startsWith('-') ? `./${path}` : path;
}

/** Shell-quoted display form of a command, for logs, dry-run and error messages. */
export function formatArgv([file, args]: Argv): string {
  return [file, ...args].map(quote).join(' ');
}
