import { UserError } from './errors.js';

// Values written into systemd units and udev rules. A line break would end the line
// and start a setting (or a rule) of the value's choosing, and neither format can
// escape one everywhere we write (a Description, a rule's comment), so control
// characters are refused. What is left is escaped for the format.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Refuses a value with a control character (newline, tab, NUL, ESC …), naming it. */
export function refuseControl(what: string, value: string, fix: string): void {
  const m = CONTROL.exec(value);
  if (!m) return;
  const code = `\\x${m[0].charCodeAt(0).toString(16).padStart(2, '0')}`;
  throw new UserError(
    `${what} ${JSON.stringify(value)} holds a control character (${code}): it cannot be written into a systemd unit or a udev rule`,
    fix,
  );
}

/** systemd expands `%` specifiers in almost every setting: `%%` is a plain `%`. */
export function unitText(value: string): string {
  return value.replaceAll('%', '%%');
}

const PLAIN_WORD = /^[A-Za-z0-9_@+=:,./-]+$/;

/**
 * A command line for ExecStart=: each word double-quoted unless plain, with `\` and `"`
 * escaped inside the quotes, `%` as `%%` (specifiers) and `$` as `$$` (systemd
 * substitutes variables even inside quotes).
 */
export function unitCommandLine(words: readonly string[]): string {
  return words
    .map((w) => {
      const text = w.replaceAll('%', '%%').replaceAll('$', '$$$$');
      return PLAIN_WORD.test(w) ? text : `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
    })
    .join(' ');
}

/**
 * A value matched by a udev rule (==): glob characters and quotes would change what it
 * matches, and udev has no way to escape them in a plain string, so only a plain
 * identifier (a UUID) is accepted.
 */
export function udevMatchValue(what: string, value: string): string {
  if (/^[A-Za-z0-9_.:-]+$/.test(value)) return value;
  throw new UserError(
    `${what} ${JSON.stringify(value)} cannot be matched by a udev rule: only letters, digits and - _ . : are written there`,
    'give the backup filesystem a plain UUID (btrfstune -u, or mkfs again) and install again',
  );
}
