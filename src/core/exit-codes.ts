// The exit codes, the one place they are written down: the code uses ExitCode, `--help`
// prints each code with its meaning, and the "Exit codes" table of docs/COMMANDS.md is
// made from the same rows (`npm run docs`; a unit test keeps it current). No imports: the
// command-line parser reads this for --help, and --help must start fast.

export interface ExitCodeRow {
  /** how the code names it: ExitCode.<name> */
  readonly name: string;
  readonly code: number;
  /** a few words, for --help */
  readonly meaning: string;
  /** when it happens, for docs/COMMANDS.md */
  readonly when: string;
}

export const EXIT_CODES = [
  { name: 'ok', code: 0, meaning: 'ok', when: 'all sources backed up; the command did what it was asked' },
  {
    name: 'failed',
    code: 1,
    meaning: 'a source failed; a warning stands',
    when: 'at least one source failed (and something was written, or the failures differ); `verify`: something differs or is damaged; `status --check`, `doctor`: a warning stands; `restore`: the filesystem restored to is full',
  },
  {
    name: 'usage',
    code: 2,
    meaning: 'bad input (nothing written)',
    when: 'bad input: command line (a backup that is not there, a read-only `--to`), config, a source path, a run without root; nothing written; `doctor`: an error',
  },
  {
    name: 'target',
    code: 3,
    meaning: 'backup target missing or refused',
    when: 'the backup target is missing, not btrfs, read-only, full or refused (token), or could not be closed after the backup',
  },
  {
    name: 'locked',
    code: 4,
    meaning: 'another run holds the lock',
    when: 'another run holds the lock of the backup target or of a source',
  },
  {
    name: 'internal',
    code: 70,
    meaning: 'internal error',
    when: 'internal error (a bug), or an installation whose bundle is missing (`npm run build`)',
  },
  { name: 'sighup', code: 129, meaning: 'stopped by SIGHUP', when: 'stopped by SIGHUP (cleaned up)' },
  {
    name: 'sigint',
    code: 130,
    meaning: 'stopped by SIGINT (Ctrl-C)',
    when: 'stopped by SIGINT, or Ctrl-C at a question (cleaned up)',
  },
  { name: 'sigterm', code: 143, meaning: 'stopped by SIGTERM', when: 'stopped by SIGTERM (cleaned up)' },
] as const satisfies readonly ExitCodeRow[];

type Row = (typeof EXIT_CODES)[number];

/** ExitCode.usage === 2 */
export const ExitCode = Object.fromEntries(EXIT_CODES.map((r) => [r.name, r.code])) as {
  readonly [R in Row as R['name']]: R['code'];
};

/** The lines --help ends with: one code a line. */
export function exitCodesHelp(): string {
  return ['Exit codes:', ...EXIT_CODES.map((r) => `  ${String(r.code).padEnd(4)}${r.meaning}`)].join('\n');
}
