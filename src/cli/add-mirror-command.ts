import { loadConfig } from '../config/load.js';
import { UserError } from '../core/errors.js';
import { findDisk } from '../flows/setup/disk-survey.js';
import { addMirror, type MirrorQuestions } from '../flows/setup/add-mirror.js';
import { outputMode } from '../ui/renderer.js';
import { makeRunner } from './context.js';

export interface AddMirrorOptions {
  config: string;
  disk?: string;
  confirm?: string;
  wipeExisting?: boolean;
  wait: boolean;
  dryRun?: boolean;
}

export async function addMirrorCommand(opts: AddMirrorOptions): Promise<number> {
  const config = await loadConfig(opts.config);
  const runner = makeRunner(opts);
  await addMirror({
    runner,
    config,
    questions: questionsFor(opts),
    wait: opts.wait,
    mode: outputMode({}),
    print: (t) => process.stdout.write(t),
  });
  return 0;
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
