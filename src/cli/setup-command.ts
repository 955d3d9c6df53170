import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadAnswers, readPassphrase } from '../config/answers.js';
import { DEFAULT_CONFIG, TARGET_DEFAULTS as D, FULL_STACK } from '../config/defaults.js';
import { confirmationWords, type DiskAssessment } from '../core/eligibility.js';
import { UserError } from '../core/errors.js';
import { findDisk, ownStackDevices, readState, surveyDisks } from '../flows/disk-survey.js';
import { decideMode } from '../flows/setup-mode.js';
import { runSetup, setupDoneText } from '../flows/setup.js';
import { mountPointProblem, mountPointUse } from '../stack/mount-point.js';
import { testPbkdf } from '../flows/setup-test-hooks.js';
import { filesystemDevice, labelFor, planSetup, type SetupSpec } from '../flows/setup-plan.js';
import { outputMode } from '../ui/renderer.js';
import { planSummary } from '../ui/summary.js';
import { reportError } from './exit.js';
import { makeRunner } from './context.js';
import { exists } from '../stack/devices.js';
import { MDADM_CONF } from '../stack/array-state.js';
import { otherArrayByName } from '../stack/raid.js';
import { setupStack } from '../flows/setup-steps.js';

export interface SetupOptions {
  config?: string;
  answers?: string;
  dryRun?: boolean;
  host?: string;
}

const { array: ARRAY, luks_name: LUKS_NAME, volume_group: VG, token: TOKEN } = D;

export async function setupCommand(opts: SetupOptions): Promise<number> {
  try {
    const configFile = resolve(opts.config ?? DEFAULT_CONFIG);
    const dir = dirname(configFile);
    const host = opts.host ?? hostname().split('.')[0]!;
    const runner = makeRunner(opts);
    const answers = opts.answers ? await loadAnswers(opts.answers) : undefined;
    if (!answers && !process.stdin.isTTY) {
      throw new UserError('setup asks questions, and there is no terminal to ask them on', 'run it in a terminal, or answer in advance: btrfs-vault setup --answers FILE');
    }
    const prompts = answers ? undefined : await import('../ui/prompts.js');
    const mountpoint = answers?.mountpoint ?? D.mountpoint;
    const stateFile = join(dir, 'setup-state.json');
    const state = await readState(stateFile);
    const ours = await ownStackDevices(ARRAY, LUKS_NAME, VG, host, mountpoint);
    const survey = await surveyDisks(runner, dir, ours);

    const disk: DiskAssessment = answers ? await findDisk(survey, answers.disk) : await prompts!.askDisk(survey.disks, 'for the backups');
    const resuming = state !== undefined && (state.serial === disk.serial || state.disk === (disk.byId ?? disk.path));
    if (!disk.eligible) {
      throw new UserError(`${disk.byId ?? disk.path} cannot be used: ${disk.reasons.join('; ')}`, 'pick another disk, or free this one first (unmount, swapoff, stop the array)');
    }
    // a resumed setup makes the layers it started with
    const layers = resuming ? (state.layers ?? [...FULL_STACK]) : answers ? answers.layers : await prompts!.askLayers();
    const { mode, found, member, existing, needsWipe, ...decided } = await decideMode(runner, {
      survey,
      disk,
      host,
      layers,
      names: { array: ARRAY, luksName: LUKS_NAME, volumeGroup: VG, tokenName: TOKEN },
      ...(resuming ? { resumed: state } : {}),
      askPassphrase: async () => (answers ? readPassphrase(answers.passphrase_file) : prompts!.askPassphrase('the existing backup disk')),
    });
    let passphrase = decided.passphrase;
    if (needsWipe) {
      const wipe = answers ? answers.wipe_existing : await prompts!.askWipe(disk);
      if (!wipe) {
        throw new UserError(
          `${disk.byId ?? disk.path} is not empty; it carries:\n  ${disk.signatures.join('\n  ')}`,
          answers ? 'if all of that may be destroyed, set wipe_existing = true in the answers' : 'answer yes if all of that may be destroyed',
        );
      }
    }
    // without LUKS there is no passphrase to ask for
    passphrase ??= !layers.includes('luks') ? '' : answers ? await readPassphrase(answers.passphrase_file) : await prompts!.askPassphrase();
    // a volume's size only with LVM, and not for one that exists already
    const details = answers ?? (await prompts!.askSetupDetails({ mountpoint, askSize: mode !== 'reconnect' && layers.includes('lvm') }));
    const spec: SetupSpec = {
      mode,
      disk: disk.path,
      diskName: disk.byId ?? disk.path,
      label: resuming ? state.label : member?.partlabel ?? labelFor(disk.serial, disk.byId, disk.path),
      wipe: needsWipe ? [...partitionsOf(survey, disk), disk.path] : [],
      diskBytes: disk.size,
      stopArray: needsWipe && found !== undefined && (await exists(ARRAY)),
      host,
      layers,
      size: details.size,
      mountpoint: details.mountpoint,
      compression: details.compression,
      array: ARRAY,
      luksName: LUKS_NAME,
      keyfile: join(dir, D.keyfile),
      volumeGroup: VG,
      configFile,
      tokenFile: join(details.mountpoint, TOKEN),
      tokenHashFile: join(dir, D.token_sha512),
      pbkdf: testPbkdf(),
      ...(existing ? { existing } : {}),
    };
    // something else mounted at (or in fstab for) the mount point: refused before anything is written
    const where = { mountpoint: spec.mountpoint, device: filesystemDevice(spec) };
    const problem = mountPointProblem(await mountPointUse(runner, where), where);
    if (problem) throw new UserError(`${problem.message}; nothing was changed`, problem.fix);
    const taken = mode === 'new-disk' && layers.includes('raid') ? await otherArrayByName(setupStack(runner, spec), found?.path) : undefined;
    if (taken) {
      throw new UserError(
        `a new array cannot be named ${ARRAY}: ${taken}; nothing was changed`,
        `to mirror that disk, use: btrfs-vault add-mirror. If it is gone for good, stop it (mdadm --stop ${ARRAY}) and delete its ARRAY line from ${MDADM_CONF}, then run setup again`,
      );
    }
    const steps = planSetup(spec);
    process.stdout.write(`${planSummary(spec, disk, steps)}\n`);
    if (resuming) process.stdout.write(`resuming the setup that stopped after: ${state.done.join(', ') || 'nothing'}\n`);
    if (opts.dryRun && member && !resuming) {
      process.stdout.write(`a dry run does not open the disk, so it cannot see whether it already holds a volume ${VG}/${host}; if it does, setup reconnects to it (this host was rebuilt) and creates nothing on the disk\n`);
    }
    if (opts.dryRun) {
      process.stdout.write('dry run: nothing was changed\n');
      return 0;
    }
    const words = confirmationWords(disk);
    const typed = answers ? answers.confirm : await prompts!.askConfirmation(words);
    if (!words.includes(typed.trim())) {
      throw new UserError(`the confirmation "${typed}" does not match the disk (${words.join(' or ')}); nothing was changed`, 'type the serial shown in the summary');
    }
    const lines = await runSetup({ spec, passphrase, runner, mode: outputMode({}), stateFile, state: resuming ? state : { disk: spec.diskName, serial: disk.serial, label: spec.label, host, mode, layers: [...layers], done: [] } });
    for (const l of lines) process.stdout.write(`${l}\n`);
    process.stdout.write(setupDoneText(spec));
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

function partitionsOf(survey: { devices: { path: string; children?: { path: string; type: string }[] }[] }, disk: DiskAssessment): string[] {
  return (survey.devices.find((d) => d.path === disk.path)?.children ?? []).filter((c) => c.type === 'part').map((c) => c.path);
}


