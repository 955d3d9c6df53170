import { loadConfig } from '../config/load.js';
import { UserError } from '../core/errors.js';
import { findDisk } from '../flows/setup/disk-survey.js';
import { addMirror, type MirrorQuestions } from '../flows/setup/add-mirror.js';
import { outputMode } from '../ui/renderer.js';
import { jsonText } from '../ui/json-output.js';
import { makeRunner } from './context.js';

export interface AddMirrorOptions {
  config: string;
  disk?: string;
  confirm?: string;
  wipeExisting?: boolean;
  wait: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function addMirrorCommand(opts: AddMirrorOptions): Promise<number> {
  checkUnattended(opts);
  const config = await loadConfig(opts.config);
  const runner = makeRunner(opts);
  const report = await addMirror({
    runner,
    config,
    questions: questionsFor(opts),
    wait: opts.wait,
    mode: outputMode({ json: opts.json }),
    // with --json, what a person reads goes to stderr, the report to stdout
    print: (t) => (opts.json ? process.stderr : process.stdout).write(t),
  });
  if (opts.json) process.stdout.write(jsonText(report));
  return 0;
}

/**
 * --confirm and --wipe-existing answer the questions of an unattended run (--disk): the
 * wizard asks its own, so without --disk they would be ignored. --json needs no
 * questions either: stdout carries one JSON object.
 */
function checkUnattended(opts: AddMirrorOptions): void {
  if (opts.disk !== undefined) return;
  const given = [
    opts.confirm !== undefined && '--confirm',
    opts.wipeExisting && '--wipe-existing',
    opts.json && '--json',
  ].filter((g): g is string => typeof g === 'string');
  if (given.length > 0)
    throw new UserError(
      `${given.join(' and ')} ${given.length > 1 ? 'are' : 'is'} for an unattended add-mirror, which --disk makes; without it the wizard asks its questions`,
      `name the disk: btrfs-vault add-mirror --disk /dev/disk/by-id/… --confirm SERIAL ${given.filter((g) => g !== '--confirm').join(' ')}`.trimEnd() +
        ' (or leave them out to use the wizard)',
    );
}

/** --disk makes it unattended: the options answer; otherwise the wizard asks (on a terminal). */
function questionsFor(opts: AddMirrorOptions): MirrorQuestions {
  if (opts.disk !== undefined) {
    const wanted = opts.disk;
    return {
      disk: (survey) => findDisk(survey, wanted),
      wipe: async () => Boolean(opts.wipeExisting),
      confirm: async () => opts.confirm ?? '',
    };
  }
  const prompts = async () => {
    if (!process.stdin.isTTY)
      throw new UserError('add-mirror asks questions, and there is no terminal', 'give --disk DEV --confirm SERIAL');
    return import('../ui/prompts.js');
  };
  return {
    disk: async (_survey, candidates) => (await prompts()).askDisk(candidates, 'for the second mirror'),
    wipe: async (disk) => (await prompts()).askWipe(disk),
    confirm: async (words) => (await prompts()).askConfirmation(words),
  };
}
