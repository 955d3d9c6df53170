// The original script's habits: backup is the default command, `-o` opens, `-c`
// closes. Rewritten to the subcommand form before commander sees them. Pure.

export const COMMANDS = [
  'backup',
  'list',
  'status',
  'verify',
  'restore',
  'files',
  'schedule',
  'doctor',
  'prune',
  'open',
  'close',
  'setup',
  'add-mirror',
  'target',
  'serve',
  'help',
] as const;
/** commands whose first word after them names a subcommand (schedule install, target add) */
export const WITH_SUBCOMMANDS = new Set(['schedule', 'target']);
const LEGACY: Record<string, string> = { '-o': 'open', '-c': 'close' };
const PROGRAM_FLAGS = new Set(['-h', '--help', '-V', '--version']);
// options that take a value, so their value is not mistaken for the command (a unit
// test checks this against the program's)
const WITH_VALUE = new Set([
  '--config',
  '--answers',
  '--disk',
  '--confirm',
  '--host',
  '--to',
  '--before',
  '--path',
  '--from',
  '--every',
  '--root',
  '--target',
  '--init',
  '--serve-root',
  '--max-age',
  '--ssh',
  '--port',
  '--fingerprint',
]);

export function normalizeArgv(args: readonly string[]): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (WITH_VALUE.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('--config=')) continue;
    if (LEGACY[a]) {
      out.splice(i, 1);
      return [LEGACY[a], ...out];
    }
    if ((COMMANDS as readonly string[]).includes(a)) {
      // options before the command are the command's: `btrfs-vault --config F list`
      const words = WITH_SUBCOMMANDS.has(a) && out[i + 1] !== undefined && !out[i + 1]!.startsWith('-') ? 2 : 1;
      return [...out.slice(i, i + words), ...out.slice(0, i), ...out.slice(i + words)];
    }
    if (PROGRAM_FLAGS.has(a)) return out;
    if (a === '--') break;
    if (!a.startsWith('-')) {
      // the implicit backup takes paths; a bare word there is far more often a mistyped
      // command, so commander refuses it as one (naming the commands), not a path
      if (!a.includes('/')) return [a, ...out.slice(0, i), ...out.slice(i + 1)];
      break;
    }
  }
  return ['backup', ...out];
}

/** Is the switch on the line, not as an option's value (`--to --json`) nor after `--`? */
export function switchGiven(args: readonly string[], flag: string): boolean {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return false;
    if (args[i] === flag) return true;
    if (WITH_VALUE.has(args[i]!)) i++;
  }
  return false;
}
