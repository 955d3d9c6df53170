import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { loadAnswers } from '../config/answers.js';
import { DEFAULT_CONFIG, TARGET_DEFAULTS } from '../config/defaults.js';
import { UserError } from '../core/errors.js';
import { setup } from '../flows/setup/setup.js';
import { answeredQuestions, type SetupQuestions } from '../flows/setup/setup-spec.js';
import { layersAsk } from '../stack/layers.js';
import { outputMode } from '../ui/renderer.js';
import { makeRunner } from './context.js';

export interface SetupOptions {
  config?: string;
  answers?: string;
  dryRun?: boolean;
  host?: string;
}

export async function setupCommand(opts: SetupOptions): Promise<number> {
  const configFile = resolve(opts.config ?? DEFAULT_CONFIG);
  const host = opts.host ?? hostname().split('.')[0]!;
  const runner = makeRunner(opts);
  const questions = opts.answers
    ? answeredQuestions(await loadAnswers(opts.answers, (layers) => layersAsk(layers, 'passphrase')))
    : await wizardQuestions();
  await setup({ runner, configFile, host, questions, mode: outputMode({}), print: (t) => process.stdout.write(t) });
  return 0;
}

/** The wizard's prompts, on a terminal. */
async function wizardQuestions(): Promise<SetupQuestions> {
  if (!process.stdin.isTTY) {
    throw new UserError(
      'setup asks questions, and there is no terminal to ask them on',
      'run it in a terminal, or answer in advance: btrfs-vault setup --answers FILE',
    );
  }
  const prompts = await import('../ui/prompts.js');
  return {
    mountpoint: TARGET_DEFAULTS.mountpoint,
    wipeFix: 'answer yes if all of that may be destroyed',
    disk: (survey) => prompts.askDisk(survey.disks, 'for the backups'),
    layers: () => prompts.askLayers(),
    passphrase: (existing) => prompts.askPassphrase(existing),
    wipe: (disk) => prompts.askWipe(disk),
    details: (o) => prompts.askSetupDetails(o),
    confirm: (words) => prompts.askConfirmation(words),
    rotation: (existing) => prompts.askRotation(existing),
  };
}
