import { ExitCode, fromNotRoot, fromPrompt, isVaultError } from '../core/errors.js';
import { errorText } from '../ui/json-output.js';

export interface ErrorOutput {
  /** --json: the error also goes to stdout as { ok, error, fix, exitCode }, the shape of every command's JSON */
  json?: boolean;
  stderr?: (text: string) => void;
  stdout?: (text: string) => void;
}

/** The one place errors become a message and an exit code. */
export function reportError(thrown: unknown, out: ErrorOutput = {}): number {
  const err = fromNotRoot(fromPrompt(thrown), process.geteuid?.());
  const stderr = out.stderr ?? ((t: string) => process.stderr.write(t));
  const stdout = out.stdout ?? ((t: string) => process.stdout.write(t));
  let message: string;
  let fix: string | undefined;
  let exitCode: number;
  if (isVaultError(err)) {
    ({ message, fix, exitCode } = err);
    stderr(`btrfs-vault: ${message}\n${fix ? `fix: ${fix}\n` : ''}`);
  } else {
    const e = err as Error;
    message = `internal error: ${e?.message ?? String(err)}`;
    fix = 'this is a bug in btrfs-vault; please report it with the output above';
    exitCode = ExitCode.internal;
    stderr(`btrfs-vault: internal error: ${e?.stack ?? String(err)}\n${fix}\n`);
  }
  if (out.json) stdout(errorText({ error: message, fix, exitCode }));
  return exitCode;
}
