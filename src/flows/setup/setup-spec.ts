import { dirname, join } from 'node:path';
import { loadAnswers, readPassphrase, type Answers } from '../../config/answers.js';
import type { NamedTargetConfig } from '../../config/config.js';
import {
  FULL_STACK,
  namedTargetDefaults,
  TARGET_DEFAULTS as D,
  targetLabel,
  type LayerName,
} from '../../config/defaults.js';
import { loadConfig } from '../../config/load.js';
import { targetsOf } from '../../config/target-view.js';
import type { BlockDevice, DiskAssessment } from '../../core/eligibility.js';
import { UserError } from '../../core/errors.js';
import { MDADM_CONF } from '../../stack/array-state.js';
import { exists } from '../../stack/devices.js';
import { layerHandlers, layersAsk } from '../../stack/layers.js';
import { otherArrayByName, raidLayer } from '../../stack/raid.js';
import { setupStack } from './setup-steps.js';
import { mountPointProblem, mountPointUse } from '../../stack/mount-point.js';
import type { Runner } from '../../system/runner.js';
import { findDisk, ownStackDevices, readState, surveyDisks, type SetupState, type Survey } from './disk-survey.js';
import { decideMode, decideRotation } from './setup-mode.js';
import { labelFor, setupDevice, type SetupSpec } from './setup-plan.js';
import { testPbkdf } from './setup-test-hooks.js';
import type { ServerAnswer } from './setup-server.js';

// What setup decides before its summary: the disk, the layers, the mode, the wipe, the
// passphrase, the spec of the stack to make, and the mount point's check. The
// questions come in as an interface: the answers file or the wizard's prompts.

export type Compression = SetupSpec['compression'];

export interface SetupQuestions {
  /** the mount point taken as this host's while the disks are surveyed (before it is asked) */
  readonly mountpoint: string;
  /** how a refused wipe is undone: the answers' key, or the wizard's yes */
  readonly wipeFix: string;
  /** the disk; undefined: no disk, only a backup server (offered where `server` can ask for one) */
  disk(survey: Survey): Promise<DiskAssessment | undefined>;
  /** no disk at all (an answers file without one): setup adds only the server, surveying nothing */
  readonly diskless?: boolean;
  /**
   * "Also send backups to a server over SSH?" and its answers, after the disk is set up
   * (`required`: it is the only thing to set up); undefined: no server.
   */
  server?(o: { required: boolean }): Promise<ServerAnswer | undefined>;
  /** the server answered in advance (the answers file): checked before any disk is touched */
  readonly answeredServer?: ServerAnswer;
  /** asks a person whether the fingerprint is the server's (absent: the answers name it) */
  confirmHostKey?: (fingerprint: string, where: string) => Promise<boolean>;
  layers(): Promise<LayerName[]>;
  /** the passphrase: of the existing backup disk named, or a new one */
  passphrase(existing?: string): Promise<string>;
  wipe(disk: DiskAssessment): Promise<boolean>;
  /** askSize: false when the volume exists already (or there is no LVM) */
  details(o: {
    mountpoint: string;
    askSize: boolean;
  }): Promise<{ size: string; mountpoint: string; compression: Compression }>;
  /** what was typed to confirm (the serial, or the by-id name's tail) */
  confirm(words: string[]): Promise<string>;
  /**
   * On a host whose config has backup disks (`existing`, their names): is this disk
   * another one for this host (rotation)? Else setup goes on as on a host without one.
   */
  rotation(existing: readonly string[]): Promise<boolean>;
  /** rotation: the new disk's name, when it is not to be derived from its serial */
  readonly targetName?: string;
}

/** `setup --answers FILE`: its answers checked (a passphrase wherever the layers ask for one), as the questions' answers. */
export async function questionsFromAnswers(file: string): Promise<SetupQuestions> {
  return answeredQuestions(await loadAnswers(file, (layers) => layersAsk(layers, 'passphrase')));
}

/** The answers file (`setup --answers`) as the questions' answers. */
export function answeredQuestions(answers: Answers): SetupQuestions {
  return {
    mountpoint: answers.mountpoint ?? D.mountpoint,
    wipeFix: 'if all of that may be destroyed, set wipe_existing = true in the answers',
    disk: async (survey) => (answers.disk === undefined ? undefined : findDisk(survey, answers.disk)),
    diskless: answers.disk === undefined,
    ...(answers.server
      ? {
          answeredServer: {
            ssh: answers.server.ssh,
            fingerprint: answers.server.fingerprint,
            ...(answers.server.port !== undefined ? { port: answers.server.port } : {}),
            ...(answers.server.serve_root !== undefined ? { serveRoot: answers.server.serve_root } : {}),
            ...(answers.server.name !== undefined ? { name: answers.server.name } : {}),
          },
        }
      : {}),
    layers: async () => answers.layers,
    passphrase: () => readPassphrase(answers.passphrase_file),
    wipe: async () => answers.wipe_existing,
    details: async (o) => ({
      size: answers.size,
      mountpoint: answers.mountpoint ?? o.mountpoint,
      compression: answers.compression,
    }),
    confirm: async () => answers.confirm ?? '',
    rotation: async () => answers.rotation,
    ...(answers.target_name !== undefined ? { targetName: answers.target_name } : {}),
  };
}

export interface SetupDecision {
  spec: SetupSpec;
  disk: DiskAssessment;
  passphrase: string;
  /** the state of the setup this one resumes, or the new one's */
  state: SetupState;
  resuming: boolean;
  /** the member of an existing backup array the passphrase opened (second host or reconnect) */
  member?: BlockDevice;
}

const { array: ARRAY, luks_name: LUKS_NAME, volume_group: VG } = D;

/**
 * Decides everything setup needs before its summary, reading only. A disk that is
 * not empty must be allowed to be wiped, and a mount point with something else on it
 * (or in fstab for it) is refused: both before anything is written.
 */
export async function decideSetup(
  runner: Runner,
  o: { configFile: string; host: string; stateFile: string; questions: SetupQuestions },
): Promise<SetupDecision | undefined> {
  const { questions: ask, host } = o;
  const dir = dirname(o.configFile);
  const state = await readState(o.stateFile);
  const configured = await configuredTargets(o.configFile);
  const ours = await ownStackDevices(ARRAY, LUKS_NAME, VG, host, ask.mountpoint);
  const survey = await surveyDisks(runner, dir, ours);
  const disk = await ask.disk(survey);
  if (disk === undefined) return undefined;
  const resumed =
    state !== undefined && (state.serial === disk.serial || state.disk === (disk.byId ?? disk.path))
      ? state
      : undefined;
  if (!disk.eligible) {
    throw new UserError(
      `${disk.byId ?? disk.path} cannot be used: ${disk.reasons.join('; ')}`,
      'pick another disk, or free this one first (unmount, swapoff, stop the array)',
    );
  }
  const rotation = await decideRotation(runner, {
    survey,
    disk,
    configured,
    resumed,
    configFile: o.configFile,
    askRotation: (names) => ask.rotation(names),
    ...(ask.targetName !== undefined ? { targetName: ask.targetName } : {}),
  });
  // another disk of this host has names of its own (its handlers' defaults for its name), so two never clash
  const names = rotation === undefined ? D : namedTargetDefaults(rotation);
  // a resumed setup makes the layers it started with
  const layers = resumed ? (resumed.layers ?? [...FULL_STACK]) : await ask.layers();
  const { mode, found, member, existing, needsWipe, ...decided } = await decideMode(runner, {
    survey,
    disk,
    host,
    layers,
    names: { array: names.array, luksName: names.luks_name, volumeGroup: names.volume_group, tokenName: names.token },
    ...(resumed ? { resumed } : {}),
    askPassphrase: () => ask.passphrase('the existing backup disk'),
  });
  if (needsWipe && !(await ask.wipe(disk))) {
    throw new UserError(
      `${disk.byId ?? disk.path} is not empty; it carries:\n  ${disk.signatures.join('\n  ')}`,
      ask.wipeFix,
    );
  }
  // without LUKS there is no passphrase to ask for
  const passphrase = decided.passphrase ?? (layersAsk(layers, 'passphrase') ? await ask.passphrase() : '');
  // a volume's size only with LVM, and not for one that exists already
  const details = await ask.details({
    mountpoint: rotation === undefined ? ask.mountpoint : names.mountpoint,
    askSize: mode !== 'reconnect' && layersAsk(layers, 'size'),
  });
  const spec: SetupSpec = {
    mode,
    disk: disk.path,
    diskName: disk.byId ?? disk.path,
    label: resumed
      ? resumed.label
      : rotation !== undefined
        ? targetLabel(rotation)
        : (member?.partlabel ?? labelFor(disk.serial, disk.byId, disk.path)),
    wipe: needsWipe ? [...partitionsOf(survey, disk), disk.path] : [],
    diskBytes: disk.size,
    stopArray: needsWipe && found !== undefined && (await exists(names.array)),
    host,
    layers,
    size: details.size,
    mountpoint: details.mountpoint,
    compression: details.compression,
    array: names.array,
    luksName: names.luks_name,
    keyfile: join(dir, names.keyfile),
    volumeGroup: names.volume_group,
    configFile: o.configFile,
    tokenFile: join(details.mountpoint, names.token),
    tokenHashFile: join(dir, names.token_sha512),
    ...(rotation !== undefined ? { target: rotation } : {}),
    pbkdf: testPbkdf(),
    ...(existing ? { existing } : {}),
  };
  // something else mounted at (or in fstab for) the mount point: refused before anything is written
  const where = { mountpoint: spec.mountpoint, device: setupDevice(spec) };
  const problem = mountPointProblem(await mountPointUse(runner, where), where);
  if (problem) throw new UserError(`${problem.message}; nothing was changed`, problem.fix);
  // (a resumed setup was checked by its first run, and the array under the name may be the one it made)
  const taken =
    !resumed && layerHandlers(layers).includes(raidLayer)
      ? await otherArrayByName(setupStack(runner, spec), found?.path)
      : undefined;
  if (taken) {
    throw new UserError(
      `a new array cannot be named ${names.array}: ${taken}; nothing was changed`,
      `to mirror that disk, use: btrfs-vault add-mirror. If it is gone for good, stop it (mdadm --stop ${names.array}) and delete its ARRAY line from ${MDADM_CONF}, then run setup again`,
    );
  }
  return {
    spec,
    disk,
    passphrase,
    state: resumed ?? {
      disk: spec.diskName,
      serial: disk.serial,
      label: spec.label,
      host,
      mode,
      layers: [...layers],
      ...(rotation !== undefined ? { target: rotation } : {}),
      done: [],
    },
    resuming: resumed !== undefined,
    ...(member ? { member } : {}),
  };
}

function partitionsOf(survey: Survey, disk: DiskAssessment): string[] {
  return (survey.devices.find((d) => d.path === disk.path)?.children ?? [])
    .filter((c) => c.type === 'part')
    .map((c) => c.path);
}

/** The backup disks the config names already; none when there is no config (or one setup cannot read, which it keeps as it is). */
async function configuredTargets(configFile: string): Promise<NamedTargetConfig[]> {
  if (!(await exists(configFile))) return [];
  try {
    return targetsOf(await loadConfig(configFile));
  } catch {
    return [];
  }
}
