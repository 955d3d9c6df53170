import { input, select } from '@inquirer/prompts';
import type { SourceConfig } from '../config/config.js';
import { formatDuration } from './format.js';

// The restore picker's questions (restore without arguments on a terminal).

export async function askSource(sources: readonly SourceConfig[]): Promise<SourceConfig> {
  return select({
    message: 'Which source?',
    choices: sources.map((s) => ({ name: `${s.path}  (${s.name})`, value: s })),
  });
}

/** Newest first, each with its age. */
export async function askBackup(
  names: readonly string[],
  timeOf: (name: string) => Date | undefined,
  now = Date.now(),
): Promise<string> {
  return select({
    message: 'Which backup?',
    choices: [...names]
      .reverse()
      .map((n) => ({ name: `${n}  (${formatDuration(now - (timeOf(n)?.getTime() ?? now))} ago)`, value: n })),
    pageSize: 15,
  });
}

export async function askPath(): Promise<string> {
  return input({ message: 'Which file or folder, by its path in the source? (empty: the whole backup)' });
}

export async function askDestination(whole: boolean): Promise<string> {
  return input({
    message: whole
      ? 'Restore into which folder? (on a btrfs filesystem)'
      : 'Copy it to which path? (it must not exist)',
    validate: (v) => v.startsWith('/') || 'an absolute path',
  });
}
