import { describeChange, type FileChange } from './file-change.js';
import {
  formatArgv,
  type Argv,
  type HoldResult,
  type PipeResult,
  type RunOptions,
  type RunResult,
  type Runner,
} from './runner.js';

/**
 * Dry-run adapter: inspections (query) run for real so the plan is exact; every
 * command and file change that would change something is printed and not made.
 */
export class DryRunRunner implements Runner {
  readonly changesTakeEffect = false;

  constructor(
    private readonly inner: Runner,
    private readonly print: (line: string) => void,
  ) {}

  query(argv: Argv, options?: RunOptions): Promise<RunResult> {
    return this.inner.query(argv, options);
  }

  async run(argv: Argv): Promise<RunResult> {
    this.emit(formatArgv(argv));
    return { stdout: '', stderr: '', exitCode: 0 };
  }

  async pipe(from: Argv, to: Argv): Promise<PipeResult> {
    this.emit(`${formatArgv(from)} | ${formatArgv(to)}`);
    return { bytes: 0 };
  }

  async stream(argv: Argv): Promise<RunResult> {
    this.emit(`${formatArgv(argv)} (its stdin or stdout a stream)`);
    return { stdout: '', stderr: '', exitCode: 0 };
  }

  change(change: FileChange): void {
    this.emit(describeChange(change));
  }

  note(description: string): void {
    this.emit(description);
  }

  /** Holding (a lock) changes nothing. */
  hold(argv: Argv): Promise<HoldResult> {
    return this.inner.hold(argv);
  }

  private emit(line: string): void {
    this.print(`would run: ${line}`);
  }
}
