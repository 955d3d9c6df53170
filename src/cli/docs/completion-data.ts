import { allCommands, type CommandModel, type ProgramModel } from './command-model.js';
import { ARGUMENT_VALUES, OPTION_VALUES, type ValueKind } from './value-kinds.js';

// What both completions need, per command: its options, which of them take a value
// and of what kind, and the kind of each argument. An option or argument without a
// kind in value-kinds.ts is an error (the unit test's), so the completions never fall
// behind; the build only warns, so the rest of the program still builds meanwhile.

export interface CommandCompletion {
  /** "backup", "schedule install" */
  key: string;
  description: string;
  /** every spelling: -b and --keep-open */
  options: { flags: string[]; kind?: ValueKind; description: string }[];
  /** one per argument; the last repeats when it is variadic */
  args: { name: string; kind: ValueKind; variadic: boolean }[];
  subcommands: string[];
}

/** What to do about options and arguments without a kind: by default, throw. */
export type OnMissing = (message: string) => void;
const fail: OnMissing = (message) => {
  throw new Error(message);
};

export function completionData(
  model: ProgramModel,
  onMissing: OnMissing = fail,
): {
  top: { name: string; description: string }[];
  commands: CommandCompletion[];
  programOptions: string[];
} {
  const missing: string[] = [];
  const kindOfOption = (long: string | undefined) => {
    const kind = long ? OPTION_VALUES[long] : undefined;
    if (!kind) missing.push(`option ${long ?? '(a short option alone)'}`);
    return kind;
  };
  const commands = allCommands(model).map((c: CommandModel): CommandCompletion => ({
    key: c.path.join(' '),
    description: c.description,
    options: c.options.map((o) => {
      const flags = [o.short, o.long].filter((f): f is string => f !== undefined);
      const kind = o.value === undefined ? undefined : kindOfOption(o.long);
      return { flags, ...(kind ? { kind } : {}), description: o.description };
    }),
    // commander's own help command shows no arguments, and takes a command's name
    args: (c.path.join(' ') === 'help' && c.arguments.length === 0
      ? [{ name: 'command', variadic: false }]
      : c.arguments
    ).map((a) => {
      const kind = ARGUMENT_VALUES[a.name];
      if (!kind) missing.push(`argument ${a.name} of ${c.path.join(' ')}`);
      return { name: a.name, kind: kind ?? 'none', variadic: a.variadic };
    }),
    subcommands: c.subcommands.map((s) => s.path.at(-1)!),
  }));
  if (missing.length > 0) {
    onMissing(`say in src/cli/docs/value-kinds.ts what the completions offer for: ${[...new Set(missing)].join(', ')}`);
  }
  return {
    top: model.commands.map((c) => ({ name: c.path[0]!, description: c.description })),
    commands,
    programOptions: model.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)),
  };
}

/** A short description: its first clause, for a completion menu. */
export function shortDescription(text: string): string {
  const first = text.split(/[;\n]| \(/)[0]!.trim();
  return first.length > 70 ? `${first.slice(0, 67)}...` : first;
}
