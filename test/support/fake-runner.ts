import { InternalError, CommandFailedError } from '../../src/core/errors.js';
import { applyChange, describeChange, type FileChange } from '../../src/system/file-change.js';
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
} from '../../src/system/runner.js';

export interface FakeAnswer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** for pipes: bytes to report */
  bytes?: number;
}

type Answer = FakeAnswer | ((argv: Argv) => FakeAnswer);

/**
 * Test adapter: answers from a table keyed on the exact argv and throws on any
 * command it does not know, so a test can never fall through to a real program.
 */
export class FakeRunner implements Runner {
  readonly changesTakeEffect = true;
  /** every command, in order */
  readonly calls: string[] = [];
  /** only the commands that change something (run, pipe): a refusal must leave this empty */
  readonly changes: string[] = [];
  readonly notes: string[] = [];
  /** every file change, as a dry-run shows it; each is made too (tests point them at their scratch folders) */
  readonly fileChanges: string[] = [];
  private readonly table = new Map<string, Answer>();

  on(argv: Argv | readonly [Argv, Argv], answer: Answer = {}): this {
    this.table.set(key(argv), answer);
    return this;
  }

  async query(argv: Argv, options?: RunOptions): Promise<RunResult> {
    return this.answer(argv, options);
  }

  async run(argv: Argv, options?: RunOptions): Promise<RunResult> {
    this.changes.push(formatArgv(argv));
    return this.answer(argv, options);
  }

  async pipe(from: Argv, to: Argv, options?: PipeOptions): Promise<PipeResult> {
    const k = key([from, to]);
    this.calls.push(`${formatArgv(from)} | ${formatArgv(to)}`);
    this.changes.push(`${formatArgv(from)} | ${formatArgv(to)}`);
    const entry = this.table.get(k);
    if (!entry) throw new InternalError(`fake runner: unexpected pipe ${formatArgv(from)} | ${formatArgv(to)}`);
    const a = typeof entry === 'function' ? entry(from) : entry;
    if ((a.exitCode ?? 0) !== 0) throw new CommandFailedError(formatArgv(to), a.exitCode, a.stderr ?? '');
    options?.onProgress?.(a.bytes ?? 0);
    return { bytes: a.bytes ?? 0, output: a.stdout };
  }

  /** the input is read to its end (or its error), then the table answers */
  async stream(argv: Argv, options: StreamOptions): Promise<RunResult> {
    this.changes.push(formatArgv(argv));
    if (options.input) for await (const _ of options.input) void _;
    return this.answer(argv);
  }

  change(change: FileChange): void {
    this.fileChanges.push(describeChange(change));
    applyChange(change);
  }

  note(description: string): void {
    this.notes.push(description);
  }

  /** exit code 0 in the table: held (until released); anything else: it ended at once. */
  async hold(argv: Argv): Promise<HoldResult> {
    const a = this.answer(argv, { allowFailure: true });
    if (a.exitCode !== 0) return { held: false, exitCode: a.exitCode, stderr: a.stderr };
    this.holding.add(formatArgv(argv));
    return { held: true, release: async () => void this.holding.delete(formatArgv(argv)) };
  }

  /** what is held right now (a lock not released would stay here) */
  readonly holding = new Set<string>();

  private answer(argv: Argv, options?: RunOptions): RunResult {
    this.calls.push(formatArgv(argv));
    const entry = this.table.get(key(argv));
    if (!entry) throw new InternalError(`fake runner: unexpected command ${formatArgv(argv)}`);
    const a = typeof entry === 'function' ? entry(argv) : entry;
    const result = { stdout: a.stdout ?? '', stderr: a.stderr ?? '', exitCode: a.exitCode ?? 0 };
    if (result.exitCode !== 0 && !options?.allowFailure) {
      throw new CommandFailedError(formatArgv(argv), result.exitCode, result.stderr);
    }
    return result;
  }
}

function key(argv: Argv | readonly [Argv, Argv]): string {
  return JSON.stringify(argv);
}
