import { dirname, join } from 'node:path';
import { Listr } from 'listr2';
import { confirmationWords } from '../../core/eligibility.js';
import { UserError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import { layerHandlers } from '../../stack/layers.js';
import { planSummary } from '../../ui/summary.js';
import { listrOptions, type OutputMode } from '../../ui/renderer.js';
import type { SetupState } from './disk-survey.js';
import { planSetup, type SetupSpec } from './setup-plan.js';
import { closeAfterSetup, runStep, setupStack } from './setup-steps.js';
import { pauseAfter } from './setup-test-hooks.js';
import { decideSetup, type SetupQuestions } from './setup-spec.js';
import { addServer, checkServerAnswer, type ServerAnswer, type SetupServerReport } from './setup-server.js';

export interface SetupRun {
  spec: SetupSpec;
  passphrase: string;
  runner: Runner;
  mode: OutputMode;
  stateFile: string;
  state?: SetupState;
}

/**
 * Carries out the plan as a task list, after the confirmation (a dry-run ends before
 * it). Each step first checks whether it is already done (a setup that died half-way
 * is simply run again), and the steps finished so far are kept in a state file beside
 * the config until the whole setup is through.
 */
export async function runSetup(run: SetupRun): Promise<string[]> {
  const { spec, runner } = run;
  const lines: string[] = [];
  const state: SetupState = run.state ?? {
    disk: spec.diskName,
    serial: '',
    label: spec.label,
    host: spec.host,
    mode: spec.mode,
    done: [],
  };
  // whole or not at all, so a power cut never leaves a state file that reads as no setup
  const save = async () =>
    runner.change({
      op: 'write-durably',
      path: run.stateFile,
      data: JSON.stringify(state, null, 2),
      mode: 0o600,
      replace: true,
      folder: 0o700,
      about: 'the steps done',
    });
  // what each step's handler checks, brings up and writes: the stack of the config about to be written
  const stack = { ...setupStack(runner, spec), passphrase: run.passphrase };
  await save();
  const steps = planSetup(spec);
  await new Listr(
    [
      ...steps.map((step) => ({
        title: step.title,
        task: async (_c: unknown, task: { skip: (m: string) => void; output: string }) => {
          if (state.done.includes(step.id) || (step.done && (await step.done(stack)))) {
            if (!state.done.includes(step.id)) state.done.push(step.id);
            await step.bringUp?.(stack);
            return task.skip(`${step.title}: already done`);
          }
          await runStep(step, { ...stack, say: (l) => ((task.output = l), lines.push(l)) });
          await pauseAfter(step.id);
          state.done.push(step.id);
          await save();
        },
      })),
      {
        title: 'Close the backup disk again',
        task: async () => closeAfterSetup(stack),
      },
    ],
    { ...listrOptions(run.mode), exitOnError: true, collectErrors: false },
  ).run();
  runner.change({ op: 'remove', path: run.stateFile });
  return lines;
}

export interface SetupCommandRun {
  runner: Runner;
  configFile: string;
  host: string;
  questions: SetupQuestions;
  mode: OutputMode;
  /** where the summary and what follows are written (stdout) */
  print: (text: string) => void;
}

/** What setup did, for --json (docs/JSON.md): the disk, the layers, the config written, the server added. */
export interface SetupReport {
  ok: true;
  dryRun: boolean;
  /** new-disk: a new backup disk; second-host: this host's volume added to a disk that has others; reconnect: a rebuilt host; server: no disk, a backup server only */
  mode: SetupSpec['mode'] | 'server';
  disk?: string;
  host: string;
  layers?: readonly string[];
  mountpoint?: string;
  config: string;
  /** the setup went on from where an earlier one stopped */
  resumed: boolean;
  /** the backup server added (what target add reports), when one was */
  server?: SetupServerReport;
  exitCode: 0;
}

/**
 * setup: decides (reading only), shows the summary, and after the confirmation makes
 * the stack. A dry-run stops after the summary; a wrong confirmation changes nothing.
 */
export async function setup(run: SetupCommandRun): Promise<SetupReport> {
  const { runner, print, questions } = run;
  const stateFile = join(dirname(run.configFile), 'setup-state.json');
  // the answers' server is checked before any disk is touched: a typo there stops setup at once
  const early = questions.answeredServer;
  if (early) checkServerAnswer(early);
  const decision = questions.diskless
    ? undefined
    : await decideSetup(runner, { configFile: run.configFile, host: run.host, stateFile, questions });
  if (!decision) return serverOnly(run);
  const { spec, disk, passphrase, state, resuming, member } = decision;
  const report: SetupReport = {
    ok: true,
    dryRun: !runner.changesTakeEffect,
    mode: spec.mode,
    disk: spec.diskName,
    host: spec.host,
    layers: spec.layers,
    mountpoint: spec.mountpoint,
    config: spec.configFile,
    resumed: resuming,
    exitCode: 0,
  };
  print(`${planSummary(spec, disk, planSetup(spec))}\n`);
  if (resuming) print(`resuming the setup that stopped after: ${state.done.join(', ') || 'nothing'}\n`);
  // a dry-run ends with the plan: nothing after the confirmation would take effect
  if (!runner.changesTakeEffect) {
    if (member && !resuming) {
      print(
        `a dry run does not open the disk, so it cannot see whether it already holds a volume ${spec.volumeGroup}/${spec.host}; if it does, setup reconnects to it (this host was rebuilt) and creates nothing on the disk\n`,
      );
    }
    const server = await askServer(run, early);
    print('dry run: nothing was changed\n');
    return { ...report, ...(server ? { server } : {}) };
  }
  const words = confirmationWords(disk);
  const typed = await run.questions.confirm(words);
  if (!words.includes(typed.trim())) {
    throw new UserError(
      `the confirmation "${typed}" does not match the disk (${words.join(' or ')}); nothing was changed`,
      'type the serial shown in the summary',
    );
  }
  const lines = await runSetup({ spec, passphrase, runner, mode: run.mode, stateFile, state });
  for (const l of lines) print(`${l}\n`);
  print(setupDoneText(spec));
  const server = await askServer(run, early);
  return { ...report, ...(server ? { server } : {}) };
}

/** No disk: the backup server alone (the wizard's first question, or answers without a disk). */
async function serverOnly(run: SetupCommandRun): Promise<SetupReport> {
  const answer = run.questions.answeredServer ?? (await run.questions.server?.({ required: true }));
  if (!answer)
    throw new UserError(
      'setup was given neither a disk nor a backup server; nothing was changed',
      'choose a disk, or give the server (in the answers: disk = "/dev/…", or a [server] table)',
    );
  checkServerAnswer(answer);
  const server = await addServerOf(run, answer);
  if (!run.runner.changesTakeEffect) run.print('dry run: nothing was changed\n');
  return {
    ok: true,
    dryRun: !run.runner.changesTakeEffect,
    mode: 'server',
    host: run.host,
    config: run.configFile,
    resumed: false,
    server,
    exitCode: 0,
  };
}

/** After the disk: "Also send backups to a server over SSH?" (the answers' server, when given). */
async function askServer(
  run: SetupCommandRun,
  early: ServerAnswer | undefined,
): Promise<SetupServerReport | undefined> {
  const answer = early ?? (await run.questions.server?.({ required: false }));
  return answer ? addServerOf(run, answer) : undefined;
}

function addServerOf(run: SetupCommandRun, answer: ServerAnswer): Promise<SetupServerReport> {
  return addServer({
    runner: run.runner,
    configFile: run.configFile,
    host: run.host,
    answer,
    ...(run.questions.confirmHostKey ? { confirmHostKey: run.questions.confirmHostKey } : {}),
    print: run.print,
  });
}

/** What a person reads when setup is through: what to do next. */
export function setupDoneText(spec: SetupSpec): string {
  if (spec.mode === 'reconnect') return reconnectedText(spec);
  return `\nThe backup disk is ready and closed again. Add sources to ${spec.configFile}, then: btrfs-vault backup\n${layerHandlers(
    spec.layers,
  )
    .flatMap((h) => (h.afterSetup ? [`${h.afterSetup}\n`] : []))
    .join('')}`;
}

/** After reconnecting a rebuilt host: how to get its data back, then carry on. */
function reconnectedText(spec: SetupSpec): string {
  const folders = spec.existing?.folders ?? [];
  const first = folders[0];
  return [
    '',
    `This host is connected to its backups again; the disk is closed. Nothing on it was changed but a new keyslot for ${spec.keyfile}.`,
    `Get a backup back:  btrfs-vault restore ${first?.name ?? 'NAME'} --to DIR   (DIR: a folder on a btrfs filesystem${first ? '' : '; btrfs-vault list names the backups'})`,
    `Then add the sources to ${spec.configFile} under the same names${first?.source ? ` (e.g. sources = [{ path = "${first.source}", name = "${first.name}" }])` : ''}, and: btrfs-vault backup`,
    '',
  ].join('\n');
}
