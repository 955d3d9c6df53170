// Typed errors, caught once at the top (runCli in src/cli/program.ts, formatted by src/cli/exit.ts). Each carries its exit code
// and the fix, so the top-level handler only formats.

import { ExitCode } from './exit-codes.js';

export { ExitCode };

// The CLI is two bundles (parser, commands), each with its own copy of this file: an
// error thrown in one is no `instanceof` of the other's class, so it carries a brand.
const BRAND = Symbol.for('btrfs-vault.VaultError');

export class VaultError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly fix?: string,
  ) {
    super(message);
    this.name = new.target.name;
    (this as unknown as Record<symbol, boolean>)[BRAND] = true;
  }
}

/** Is it one of ours (from either bundle)? */
export function isVaultError(err: unknown): err is VaultError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

/** Bad input from the user: config, arguments, source paths. */
export class UserError extends VaultError {
  constructor(message: string, fix?: string) {
    super(message, ExitCode.usage, fix);
  }
}

/** The target (backup filesystem or the stack below it) is not usable. */
export class TargetError extends VaultError {
  constructor(message: string, fix?: string) {
    super(message, ExitCode.target, fix);
  }
}

export class LockedError extends VaultError {
  constructor(message: string, fix?: string) {
    super(message, ExitCode.locked, fix);
  }
}

export type StopSignal = 'SIGHUP' | 'SIGINT' | 'SIGTERM';

/** A run was stopped by SIGHUP, SIGINT or SIGTERM. */
export class InterruptedError extends VaultError {
  constructor(readonly signal: StopSignal) {
    super(
      `interrupted by ${signal}`,
      signal === 'SIGINT' ? ExitCode.sigint : signal === 'SIGHUP' ? ExitCode.sighup : ExitCode.sigterm,
    );
  }
}

/**
 * Ctrl-C at a question: inquirer reads keys in raw mode, so no SIGINT arrives, and it
 * rejects with its ExitPromptError. A person's stop, not a bug: exit 130 like SIGINT.
 */
export function fromPrompt(err: unknown): unknown {
  return (err as Error | undefined)?.name === 'ExitPromptError'
    ? new VaultError('stopped at a question (Ctrl-C): nothing more was done', ExitCode.sigint)
    : err;
}

/**
 * A system call refused for want of privilege in a run that is not root's (a lock
 * folder in /run, a unit in /etc): the user's to fix by running it as root, not a bug.
 */
export function fromNotRoot(err: unknown, euid: number | undefined): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (euid === undefined || euid === 0 || isVaultError(err) || (code !== 'EACCES' && code !== 'EPERM')) return err;
  return new UserError(
    `${(err as Error).message} (btrfs-vault runs as user ${euid}, not root)`,
    'run it as root (sudo btrfs-vault ...): btrfs, the locks in /run/btrfs-vault and the units need it',
  );
}

/** An external program failed; keeps the exact command, how it ended and its stderr. */
export class CommandFailedError extends VaultError {
  constructor(
    readonly command: string,
    readonly programExitCode: number | undefined,
    readonly stderr: string,
    fix?: string,
    /** the signal that killed it, e.g. SIGKILL */
    readonly signal?: string,
  ) {
    const how = signal
      ? `killed by ${signal}`
      : `failed${programExitCode === undefined ? '' : ` (exit ${programExitCode})`}`;
    super(`command ${how}: ${command}` + (stderr.trim() ? `\n${indent(stderr.trim())}` : ''), ExitCode.failed, fix);
  }
}

/**
 * A stream between two programs moved no byte for the stall limit (`[backup]
 * stall_timeout`): both were ended. `afterEnd`: the writer had finished and the reader
 * did not end in the time it gets then (`limitMs`: three times the limit).
 */
export class StalledError extends VaultError {
  constructor(
    readonly limitMs: number,
    readonly from: string,
    readonly to: string,
    afterEnd: boolean,
    stuck?: string,
  ) {
    const limit = limitText(limitMs);
    super(
      (afterEnd
        ? `\`${to}\` did not end within ${limit} (3 × stall_timeout) after the last byte of \`${from}\`; both were ended`
        : `no data moved for ${limit} between \`${from}\` and \`${to}\`; both were ended`) +
        (stuck ? ` (${stuck} did not end when killed: stuck in the kernel, a disk that does not answer)` : ''),
      ExitCode.failed,
      'check the disk (dmesg | tail), the network and the backup server (a process stopped or hung there), then run again: the next run cleans up and goes on; stall_timeout in [backup] sets the limit ("off" turns it off)',
    );
  }
}

/** 600000 → "10m", the way stall_timeout is written */
function limitText(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms} ms`;
}

/** A bug: something that should not happen. */
export class InternalError extends VaultError {
  constructor(message: string) {
    super(message, ExitCode.internal, 'this is a bug in btrfs-vault; please report it with the output above');
  }
}

/** Several problems found at once (config validation), reported together. */
export class ProblemsError extends UserError {
  constructor(
    readonly problems: readonly string[],
    headline: string,
  ) {
    super(
      `${headline}\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      'fix each problem listed (each line says how), then run again',
    );
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `serve` refused what its client sent (docs/SERVER.md): the verb line (exit 2) or the
 * stream (exit 3, it does not match what the line announced). Logged on the server.
 */
export class RemoteRefusedError extends VaultError {
  constructor(
    message: string,
    readonly kind: 'verb' | 'stream',
    fix?: string,
  ) {
    super(message, kind === 'verb' ? ExitCode.usage : ExitCode.target, fix);
  }
}
