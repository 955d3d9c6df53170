// Typed errors, caught once at the top (src/cli/exit.ts). Each carries its exit code
// and the fix, so the top-level handler only formats.

export const ExitCode = {
  ok: 0,
  /** at least one source failed to back up */
  failed: 1,
  /** bad input: command line, config, source paths; nothing was written */
  usage: 2,
  /** the backup target is missing, not btrfs, or refused (token) */
  target: 3,
  /** another run holds the lock for this config */
  locked: 4,
  internal: 70,
  sighup: 129,
  sigint: 130,
  sigterm: 143,
} as const;

export class VaultError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly fix?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
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
    super(`interrupted by ${signal}`, signal === 'SIGINT' ? ExitCode.sigint : signal === 'SIGHUP' ? ExitCode.sighup : ExitCode.sigterm);
  }
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
    const how = signal ? `killed by ${signal}` : `failed${programExitCode === undefined ? '' : ` (exit ${programExitCode})`}`;
    super(`command ${how}: ${command}` + (stderr.trim() ? `\n${indent(stderr.trim())}` : ''), ExitCode.failed, fix);
  }
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
    super(`${headline}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
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
