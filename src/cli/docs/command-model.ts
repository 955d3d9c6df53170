import type { Command } from 'commander';

// The command line as plain data, read from commander's program the way --help reads
// it (its Help class: hidden commands and options left out), for the man page and the
// shell completions (scripts/man.mjs). Nothing here runs a command.

export interface OptionModel {
  /** as written: "-b, --keep-open", "--config <file>" */
  flags: string;
  long?: string;
  short?: string;
  /** the value's name ("file" of --config <file>); undefined: a switch */
  value?: string;
  /** the description with its default, as --help shows it */
  description: string;
}

export interface ArgumentModel {
  name: string;
  required: boolean;
  variadic: boolean;
  description: string;
}

export interface CommandModel {
  /** the words that name it: ["backup"], ["schedule", "install"] */
  path: string[];
  description: string;
  arguments: ArgumentModel[];
  options: OptionModel[];
  /** its own visible subcommands (schedule's install, remove, status) */
  subcommands: CommandModel[];
}

export interface ProgramModel {
  name: string;
  description: string;
  version: string;
  /** the program's own options (--version, --help) */
  options: OptionModel[];
  commands: CommandModel[];
}

export function programModel(program: Command): ProgramModel {
  const help = program.createHelp();
  const options = (cmd: Command): OptionModel[] =>
    help.visibleOptions(cmd).map((o) => ({
      flags: o.flags,
      ...(o.long ? { long: o.long } : {}),
      ...(o.short ? { short: o.short } : {}),
      ...(o.required || o.optional ? { value: /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1] ?? 'value' } : {}),
      description: help.optionDescription(o),
    }));
  const command = (cmd: Command, parents: string[]): CommandModel => {
    const path = [...parents, cmd.name()];
    return {
      path,
      description: cmd.description(),
      arguments: help.visibleArguments(cmd).map((a) => ({
        name: a.name(),
        required: a.required,
        variadic: a.variadic,
        description: a.description,
      })),
      options: options(cmd),
      subcommands: help
        .visibleCommands(cmd)
        .filter((c) => c.name() !== 'help')
        .map((c) => command(c, path)),
    };
  };
  return {
    name: program.name(),
    description: program.description(),
    version: program.version() ?? '',
    options: options(program),
    commands: help.visibleCommands(program).map((c) => command(c, [])),
  };
}

/** Every command, subcommands after their parent. */
export function allCommands(model: ProgramModel): CommandModel[] {
  const walk = (c: CommandModel): CommandModel[] => [c, ...c.subcommands.flatMap(walk)];
  return model.commands.flatMap(walk);
}

/** "backup [options] [paths...]" */
export function usageOf(c: CommandModel): string {
  const args = c.arguments.map((a) => {
    const n = `${a.name}${a.variadic ? '...' : ''}`;
    return a.required ? `<${n}>` : `[${n}]`;
  });
  const sub = c.subcommands.length > 0 ? ['<command>'] : [];
  return [...c.path, ...(c.options.length > 0 ? ['[options]'] : []), ...sub, ...args].join(' ');
}
