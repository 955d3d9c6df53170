import { VERSION } from '../core/version.js';

// The one way an object reaches stdout under --json (docs/JSON.md): every command's
// report and every error, each with the program's version first, so a script that keeps
// the output knows which btrfs-vault wrote it. Imported by the parser bundle too (its
// usage errors): it must stay this small.

/** The JSON text of a command's report or error: `version`, then the object's own fields. */
export function jsonText(doc: object): string {
  return `${JSON.stringify({ version: VERSION, ...doc }, null, 2)}\n`;
}

/** The error object of every command: what happened, the fix, the exit code. */
export interface JsonError {
  ok: false;
  error: string;
  fix?: string;
  exitCode: number;
}

export function errorText(e: Omit<JsonError, 'ok'>): string {
  return jsonText({ ok: false, error: e.error, fix: e.fix, exitCode: e.exitCode });
}
