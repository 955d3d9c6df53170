import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULT_CONFIG, TARGET_DEFAULTS } from '../config/defaults.js';
import { UserError } from '../core/errors.js';
import { setup } from '../flows/setup/setup.js';
import { DEFAULT_SERVE_ROOT } from '../flows/remote/target-add.js';
import { questionsFromAnswers, type SetupQuestions } from '../flows/setup/setup-spec.js';
import { outputMode } from '../ui/renderer.js';
import { jsonText } from '../ui/json-output.js';
import { makeRunner } from './context.js';

export interface SetupOptions {
  config?: string;
  answers?: string;
  dryRun?: boolean;
  host?: string;
  json?: boolean;
}

export async function setupCommand(opts: SetupOptions): Promise<number> {
  // stdout carries one JSON object: a wizard's questions and answers have no place there
  if (opts.json && !opts.answers)
    throw new UserError(
      '--json prints one JSON object on stdout, and without --answers setup asks its questions there',
      'answer in advance: btrfs-vault setup --answers FILE --json (or leave out --json to use the wizard)',
    );
  const configFile = resolve(opts.config ?? DEFAULT_CONFIG);
  const host = opts.host ?? hostname().split('.')[0]!;
  const runner = makeRunner(opts);
  const questions = opts.answers ? await questionsFromAnswers(opts.answers) : await wizardQuestions();
  // with --json, what a person reads goes to stderr, the report to stdout
  const print = (t: string) => (opts.json ? process.stderr : process.stdout).write(t);
  const report = await setup({ runner, configFile, host, questions, mode: outputMode({ json: opts.json }), print });
  if (opts.json) process.stdout.write(jsonText(report));
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
    disk: (survey) => prompts.askDisk(survey.disks, 'for the backups', { serverOnly: true }),
    server: (o) => prompts.askServer({ ...o, defaultRoot: DEFAULT_SERVE_ROOT }),
    confirmHostKey: async (fingerprint, where) =>
      (await import('../ui/host-key-prompt.js')).askHostKey(fingerprint, where),
    layers: () => prompts.askLayers(),
    passphrase: (existing) => prompts.askPassphrase(existing),
    wipe: (disk) => prompts.askWipe(disk),
    details: (o) => prompts.askSetupDetails(o),
    confirm: (words) => prompts.askConfirmation(words),
    rotation: (existing) => prompts.askRotation(existing),
  };
}
