import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { fromBytes, hasRawBytes, toBytes } from '../core/byte-names.js';
import { CommandFailedError, InterruptedError, StalledError } from '../core/errors.js';
import { runBounded } from './bounded-exec.js';
import { StallWatch } from './stall-watch.js';
import execBytes from './exec-bytes.pl.js';
import { perlOneLine } from './perl-program.js';
import {
  formatArgv,
  type Argv,
  type HoldResult,
  type PipeOptions,
  type PipeResult,
  type RunOptions,
  type RunResult,
  type Runner,
  type StreamOptions,
} from './runner.js';
import { applyChange, type FileChange } from './file-change.js';

const osSignals = constants.signals as Record<string, number>;

// Tools' output is parsed, so it must not be translated.
const ENV = { LC_ALL: 'C', LANG: 'C' };
const PROGRESS_INTERVAL_MS = 100;
const STDERR_KEEP = 64 * 1024;
/** how long a killed end of a stalled pipe may take to go (a process stuck in the kernel never does) */
const STALL_KILL_GRACE_MS = 5000;
/** what a pipe's reader may answer on its stdout (a server's reply line) */
const READER_OUTPUT_KEEP = 1024 * 1024;

/** The real adapter: runs programs with execa. */
export class ExecRunner implements Runner {
  readonly changesTakeEffect = true;

  query(argv: Argv, options?: RunOptions): Promise<RunResult> {
    return this.exec(argv, options);
  }

  run(argv: Argv, options?: RunOptions): Promise<RunResult> {
    return this.exec(argv, options);
  }

  change(change: FileChange): void {
    applyChange(change);
  }

  /** what a dry-run shows of a check: nothing to print for real */
  note(): void {}

  private async exec([file, args]: Argv, options: RunOptions = {}): Promise<RunResult> {
    if (options.timeoutMs !== undefined || options.outputLimit !== undefined)
      return this.bounded([file, args], options);
    // every program dies with this process, even on SIGKILL: none outlives a killed run
    const result = await execa('setpriv', [...DIE_WITH_US, ...withExactBytes([file, args])], {
      env: { ...ENV, ...options.env },
      reject: false,
      stripFinalNewline: false,
      ...(options.bytes ? { encoding: 'buffer' as const } : {}),
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    });
    const exitCode = result.exitCode ?? -1;
    const signal = result.signal ?? undefined;
    if (result.failed && result.exitCode === undefined && !signal) {
      // setpriv itself could not be started (ENOENT and the like)
      throw new CommandFailedError(
        formatArgv([file, args]),
        undefined,
        result.shortMessage ?? String(result.cause),
        missingProgramFix('setpriv', result.code),
      );
    }
    const text = (out: unknown) => (out instanceof Uint8Array ? fromBytes(out) : String(out));
    const stderr = text(result.stderr);
    if (
      exitCode === 127 &&
      new RegExp(`^setpriv: failed to execute ${escapeRe(file)}: No such file`, 'm').test(stderr)
    ) {
      throw new CommandFailedError(formatArgv([file, args]), undefined, stderr, missingProgramFix(file, 'ENOENT'));
    }
    if ((exitCode !== 0 || signal) && !options.allowFailure) {
      throw new CommandFailedError(formatArgv([file, args]), signal ? undefined : exitCode, stderr, undefined, signal);
    }
    return { stdout: text(result.stdout), stderr, exitCode };
  }

  /**
   * A program fed from a Node stream (serve's receive: the client's bytes through the
   * guard) or writing straight to a file descriptor (serve's send: the client's channel).
   * The input's own error (the guard refused) kills the program and is the error; else a
   * failed program is. Its stdout, when not a descriptor, and stderr are kept.
   */
  async stream([file, args]: Argv, options: StreamOptions): Promise<RunResult> {
    const child = execa('setpriv', [...DIE_WITH_US, ...withExactBytes([file, args])], {
      env: ENV,
      reject: false,
      stripFinalNewline: false,
      stdin: options.input ? 'pipe' : 'ignore',
      stdout: options.toStdout ? 'inherit' : 'pipe',
    });
    let inputError: Error | undefined;
    let fed: Promise<unknown> = Promise.resolve();
    if (options.input) {
      const input = options.input;
      // the program's stdin closing early (it failed: EPIPE) is passed back to the input
      // by the pipeline; only an error of the input's own is the input's
      let stdinError: Error | undefined;
      child.stdin!.on('error', (err: Error) => (stdinError ??= err));
      input.once('error', (err: Error) => {
        if (err === stdinError) return;
        inputError ??= err;
        child.kill('SIGKILL');
      });
      // the program may end first (a failed receive): its closed stdin is then no news
      fed = pipeline(input, child.stdin!).catch(() => {});
    }
    const [result] = await Promise.all([child, fed]);
    if (inputError !== undefined) throw inputError;
    const exitCode = result.exitCode ?? -1;
    const signal = result.signal ?? undefined;
    const stderr = String(result.stderr ?? '');
    if (result.failed && result.exitCode === undefined && !signal)
      throw new CommandFailedError(
        formatArgv([file, args]),
        undefined,
        result.shortMessage ?? String(result.cause),
        missingProgramFix('setpriv', result.code),
      );
    if (exitCode !== 0 || signal)
      throw new CommandFailedError(formatArgv([file, args]), signal ? undefined : exitCode, stderr, undefined, signal);
    return { stdout: String(result.stdout ?? ''), stderr, exitCode };
  }

  /** A program we do not know: time-limited, its process group ended, its output bounded (system/bounded-exec.ts). */
  private async bounded([file, args]: Argv, options: RunOptions): Promise<RunResult> {
    const r = await runBounded(['setpriv', ...DIE_WITH_US, file, ...args], {
      input: options.input,
      env: { ...process.env, ...ENV, ...options.env },
      timeoutMs: options.timeoutMs,
      outputLimit: options.outputLimit ?? STDERR_KEEP,
      endPastLimit: options.endPastLimit,
    });
    if (r.spawnError)
      throw new CommandFailedError(
        formatArgv([file, args]),
        undefined,
        r.spawnError.message,
        missingProgramFix('setpriv', (r.spawnError as NodeJS.ErrnoException).code),
      );
    if (
      r.exitCode === 127 &&
      new RegExp(`^setpriv: failed to execute ${escapeRe(file)}: No such file`, 'm').test(r.stderr)
    ) {
      throw new CommandFailedError(formatArgv([file, args]), undefined, r.stderr, missingProgramFix(file, 'ENOENT'));
    }
    if ((r.exitCode !== 0 || r.signal || r.timedOut) && !options.allowFailure) {
      throw new CommandFailedError(
        formatArgv([file, args]),
        r.signal ? undefined : r.exitCode,
        r.stderr,
        r.timedOut ? `it ran longer than ${options.timeoutMs} ms` : undefined,
        r.signal,
      );
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, timedOut: r.timedOut, outputCut: r.outputCut };
  }

  private prepared?: Promise<PipeEnds>;

  preparePipe(): void {
    if (this.prepared) return;
    this.prepared = this.kernelPipe();
    this.prepared.catch(() => {}); // pipe() takes it and reports the failure
  }

  /**
   * `from | to` through a kernel pipe handed straight to both processes.
   * The stream never passes through Node: copying it through JS cost 14% of the
   * throughput of raw send|receive on this 2-core machine (npm run bench). Progress
   * is the writer's write counter in /proc/PID/io, sampled; the total is exact (see
   * COUNTING_WRAPPER). Both die with this process (pdeathsig), even on SIGKILL.
   */
  async pipe(from: Argv, to: Argv, options: PipeOptions = {}): Promise<PipeResult> {
    if (options.signal?.aborted) throw abortReason(options.signal);
    const pending = this.prepared ?? this.kernelPipe();
    this.prepared = undefined;
    const ends = await pending;
    if (options.signal?.aborted) {
      closeSync(ends.write);
      closeSync(ends.read);
      throw abortReason(options.signal);
    }
    return new Promise<PipeResult>((resolve, reject) => {
      const env = { ...process.env, ...ENV };
      // child_process, not execa (the one other place is bounded-exec.ts): the two
      // programs get the kernel pipe's ends as their stdout and stdin, so no byte of the
      // stream passes through Node; execa's piping (.pipe(), its stdio transforms) reads
      // and writes the stream through Node streams.
      const through = options.through;
      const writer = spawn('setpriv', [...DIE_WITH_US, 'sh', '-c', COUNTING_WRAPPER, 'sh', from[0], ...from[1]], {
        stdio: ['ignore', through ? 'pipe' : ends.write, 'pipe', 'pipe'],
        env,
      });
      // the same for the reader: child_process, not execa
      const reader = spawn('setpriv', [...DIE_WITH_US, to[0], ...to[1]], {
        stdio: [through ? 'pipe' : ends.read, 'pipe', 'pipe'],
        env,
      });
      // through Node only when asked: the error of `through` itself (not a program's
      // closed end, which pipeline passes on to it) stops both programs and is the cause
      let throughError: Error | undefined;
      // the writer's own count misses what it never wrote itself: an ssh riding a master
      // connection hands its stdout to the master, which writes the stream; here every
      // byte passes Node, so it is counted here
      let piped = 0;
      if (through) {
        writer.stdout!.on('data', (c: Buffer) => (piped += c.length));
        let endError: Error | undefined;
        writer.stdout!.on('error', (err: Error) => (endError ??= err));
        reader.stdin!.on('error', (err: Error) => (endError ??= err));
        through.once('error', (err: Error) => {
          if (err === endError) return;
          throughError ??= err;
          for (const child of [writer, reader]) terminate(child);
        });
        pipeline(writer.stdout!, through, reader.stdin!).catch(() => {});
      }
      // the reader's answer (a server's one JSON line), bounded: a program's chatter is not kept
      let output = '';
      reader.stdout?.on('data', (c: Buffer) => {
        if (output.length < READER_OUTPUT_KEEP) output += c.toString('utf8');
      });
      // our copies of the ends must go, or the reader would never see EOF
      closeSync(ends.write);
      closeSync(ends.read);
      const errs = { writer: keepTail(writer), reader: keepTail(reader) };
      let total = '';
      writer.stdio[3]?.on('data', (c: Buffer) => (total += c.toString('utf8')));
      let bytes = 0;
      let writerPid: number | undefined;
      const ended: { writer?: Ending; reader?: Ending } = {};
      let firstFailed: 'writer' | 'reader' | undefined;
      let startError: Error | undefined;

      // a stream that stops moving (a stopped or wedged receive, a server that does not
      // read) would hold the run, and every later one at its lock, for ever; timed on the
      // monotonic clock: a clock set forward, or a suspend, is no silence of the stream
      const watch = new StallWatch(options.stallMs, performance.now());
      let stalled: { afterEnd: boolean; limitMs: number } | undefined;
      let settled = false;
      const stall = () => {
        // as it was when it fired: our kill ends the writer too
        stalled = { afterEnd: ended.writer !== undefined, limitMs: watch.currentLimitMs! };
        // a stopped process never handles SIGTERM; and an ssh on a master connection
        // handed its stdio to the master, which holds our pipes open: they are let go,
        // or the ends' close would never come
        for (const child of [writer, reader]) {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          for (const io of child.stdio) io?.destroy();
        }
        setTimeout(finish, STALL_KILL_GRACE_MS).unref();
      };
      // only the stream's own bytes are progress, never the reader's other I/O: an ssh
      // that is its own master reads keep-alive answers every 15 s from a server whose
      // serve stopped
      const sample = () => {
        writerPid ??= childOf(writer.pid);
        const n = through ? piped : readWritten(writerPid);
        if (n !== undefined && n > bytes) {
          bytes = n;
          watch.moved(performance.now());
          options.onProgress?.(bytes);
        } else if (!stalled && watch.stalled(performance.now())) stall();
      };
      const timer = setInterval(sample, PROGRESS_INTERVAL_MS);

      const onAbort = () => {
        for (const child of [writer, reader]) terminate(child);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });

      const finish = () => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (options.signal?.aborted) return reject(abortReason(options.signal));
        if (startError) return reject(startError);
        if (stalled) {
          const stuck = [!ended.writer && formatArgv(from), !ended.reader && formatArgv(to)].filter(Boolean);
          return reject(
            new StalledError(
              stalled.limitMs,
              formatArgv(from),
              formatArgv(to),
              stalled.afterEnd,
              stuck.length ? stuck.map((c) => `\`${c}\``).join(' and ') : undefined,
            ),
          );
        }
        // a writer that failed of itself (an exit code, not our kill) is the cause: the
        // stream it left short is only what `through` saw of that
        const writerFailed = ended.writer?.failed && ended.writer.code !== undefined;
        if (throughError && !writerFailed) return reject(throughError);
        // the side that failed first is the cause; the other one only lost its partner
        // (after `through` failed we killed the reader ourselves: the writer's exit is the cause)
        const culprit =
          throughError && writerFailed
            ? 'writer'
            : firstFailed === 'reader' || (ended.reader?.failed && !ended.writer?.failed)
              ? 'reader'
              : ended.writer?.failed
                ? 'writer'
                : undefined;
        if (culprit) {
          const e = ended[culprit]!;
          const argv = culprit === 'writer' ? from : to;
          const other = culprit === 'writer' ? errs.reader() : errs.writer();
          const text = [errs[culprit](), other && `(${formatArgv(culprit === 'writer' ? to : from)}: ${other})`]
            .filter(Boolean)
            .join('\n');
          return reject(new CommandFailedError(formatArgv(argv), e.code, text, undefined, e.signal));
        }
        bytes = through ? piped : (writtenBy(total) ?? bytes);
        if (bytes > 0) options.onProgress?.(bytes);
        resolve({ bytes, output });
      };
      const onClose = (which: 'writer' | 'reader') => (code: number | null, signal: NodeJS.Signals | null) => {
        // the writer's code comes through the wrapper: 128+N is "killed by signal N"
        const viaWrapper = which === 'writer' && code !== null && code > 128 && code < 160;
        const e: Ending = {
          code: viaWrapper ? undefined : (code ?? undefined),
          signal: signal ?? (viaWrapper ? signalName(code - 128) : undefined),
          failed: code !== 0,
        };
        ended[which] = e;
        if (which === 'writer') watch.writerEnded(performance.now());
        if (e.failed) firstFailed ??= which;
        // a dead reader must not leave the writer blocked on a full pipe
        if (which === 'reader' && e.failed) terminate(writer);
        if (ended.writer && ended.reader) finish();
      };
      const onError = (argv: Argv) => (err: NodeJS.ErrnoException) => {
        startError ??= new CommandFailedError(
          formatArgv(argv),
          undefined,
          err.message,
          missingProgramFix('setpriv', err.code),
        );
      };
      writer.on('error', onError(from));
      reader.on('error', onError(to));
      writer.on('close', onClose('writer'));
      reader.on('close', onClose('reader'));
    });
  }

  /**
   * A program that runs on after this call returns, until `release` ends it (the lock
   * holder: "held" on stdout once every lock is taken). Through execa like any other
   * program; only its first line is read, its stderr kept for a refusal.
   */
  async hold([file, args]: Argv): Promise<HoldResult> {
    const child = execa('setpriv', [...DIE_WITH_US, file, ...args], {
      env: ENV,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    });
    const stderr = keepTail(child);
    const ended = child.then((r) => r); // never rejects: reject is false
    const release = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await ended;
    };
    child.stdin.on('error', () => {}); // it may be gone already (the lock was taken)
    child.stdin.write('\n');
    const saidHeld = new Promise<true>((resolve) => child.stdout.once('data', () => resolve(true)));
    const first = await Promise.race([saidHeld, ended]);
    if (first === true) return { held: true, release };
    if (first.exitCode === undefined && !first.signal) {
      // setpriv itself could not be started (ENOENT and the like)
      throw new CommandFailedError(
        formatArgv([file, args]),
        undefined,
        first.shortMessage ?? String(first.cause),
        missingProgramFix('setpriv', first.code),
      );
    }
    return {
      held: false,
      exitCode: first.exitCode ?? 128 + ((first.signal && osSignals[first.signal]) || 0),
      stderr: stderr(),
    };
  }

  /**
   * A real kernel pipe between the two programs. Node's stdio 'pipe' is a UNIX socket
   * pair, which cost btrfs send|receive about 8% of its throughput here; Node has no
   * pipe(2), so a private FIFO is opened from both ends and unlinked at once.
   */
  private async kernelPipe(): Promise<PipeEnds> {
    const dir = mkdtempSync(join(tmpdir(), 'btrfs-vault-pipe-'));
    const fifo = join(dir, 'pipe');
    try {
      await this.exec(['mkfifo', ['-m', '600', '--', fifo]]);
      // O_RDWR never blocks on Linux; with it open, neither single-ended open below blocks
      const helper = openSync(fifo, 'r+');
      const read = openSync(fifo, 'r');
      const write = openSync(fifo, 'w');
      closeSync(helper);
      return { read, write };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

interface PipeEnds {
  read: number;
  write: number;
}

interface Ending {
  code?: number;
  signal?: string;
  failed: boolean;
}

/** Children die with this process, even when it is killed with SIGKILL (util-linux setpriv). */
const DIE_WITH_US = ['--pdeathsig', 'KILL', '--'];

/**
 * Node hands a program its arguments as UTF-8, so a name with other bytes (see
 * core/byte-names.ts) cannot reach it as a string: such a command goes as hex
 * through perl (Essential on Debian), which execs it with the exact bytes, no shell.
 */
export function withExactBytes([file, args]: Argv): string[] {
  if (!hasRawBytes(file) && !args.some(hasRawBytes)) return [file, ...args];
  const hex = (word: string) => toBytes(word).toString('hex');
  return ['perl', '-e', EXEC_BYTES, hex(file), ...args.map(hex)];
}

const EXEC_BYTES = perlOneLine(execBytes);

/**
 * Runs the writer ("$@") and then reports its exact write count on fd 3: a process's
 * /proc/PID/io includes what its reaped children wrote (the kernel adds their I/O
 * accounting when it reaps them), and this sh writes nothing meanwhile; what the
 * process wrote before (Node's spawn writes a byte before exec) is read first, with
 * builtins only, and subtracted. Node reaps its own children at once, so it could
 * never read the writer's final count itself. (When the reader fails, this sh is ended
 * too, maybe while grep runs: grep's complaint about its vanished parent is not news.)
 */
const COUNTING_WRAPPER =
  '{ read -r _; read -r before; } < /proc/$$/io; setpriv --pdeathsig KILL -- "$@"; rc=$?; grep "^wchar:" /proc/$$/io >&3 2>/dev/null; echo "$before" >&3; exit $rc';

/** The writer's exact count from COUNTING_WRAPPER's report: after minus before. */
function writtenBy(report: string): number | undefined {
  const [after, before] = [...report.matchAll(/wchar:\s*(\d+)/g)].map((m) => Number(m[1]));
  return after !== undefined && before !== undefined ? after - before : undefined;
}

/** The first child of `pid` (the writer under its wrapper). */
function childOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function signalName(n: number): string {
  return Object.entries(osSignals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new InterruptedError('SIGINT');
}

function terminate(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 2000).unref();
}

function keepTail(child: { stderr: Readable | null }): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-STDERR_KEEP);
  });
  return () => text.trim();
}

function readWritten(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // it has just exited
  }
}

function missingProgramFix(file: string, code: string | undefined): string | undefined {
  if (code !== 'ENOENT') return undefined;
  const pkg: Record<string, string> = {
    btrfs: 'btrfs-progs',
    mdadm: 'mdadm',
    cryptsetup: 'cryptsetup-bin',
    lvm: 'lvm2',
    sgdisk: 'gdisk',
    setpriv: 'util-linux',
    perl: 'perl-base',
  };
  return `install ${file}${pkg[file] ? ` (Debian: apt-get install ${pkg[file]})` : ''}`;
}
