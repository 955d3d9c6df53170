import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecRunner } from '../../../src/system/exec-runner.js';
import { partitionCommands } from '../../../src/stack/partition.js';
import { raidCommands } from '../../../src/stack/raid.js';
import { luksCommands, type PbkdfOptions } from '../../../src/stack/luks.js';
import { lvmCommands } from '../../../src/stack/lvm.js';
import { mountCommands } from '../../../src/stack/filesystem.js';
import { sh } from '../../support/sh.js';
import { waitForDevice } from '../../support/wait.js';
import { vmDisk } from './support.js';

// A whole stack made with the layer handlers' create commands, bottom-up, as setup
// makes it, then closed again; and the config that names it.

// test-only: argon2 is very slow under emulation
export const TEST_PBKDF: PbkdfOptions = { pbkdf: 'pbkdf2', iterations: 1000 };
const PASSPHRASE = 'correct horse battery staple';
const runner = new ExecRunner();

export interface StackSpec {
  /** serials of the disks; one makes a degraded mirror [U_], two a full one [UU] */
  serials: string[];
  /** partition label prefix, unique per stack */
  label: string;
  array: string;
  luksName: string;
  volumeGroup: string;
  host: string;
  mountpoint: string;
  keyfile: string;
  token: Buffer;
}

export async function createStack(spec: StackSpec): Promise<void> {
  const parts: string[] = [];
  for (const [i, serial] of spec.serials.entries()) {
    const disk = vmDisk(serial);
    const label = spec.serials.length > 1 ? `${spec.label}-${i}` : spec.label;
    await runner.run(partitionCommands.zap(disk));
    await runner.run(partitionCommands.create(disk, label));
    await runner.run(partitionCommands.reread(disk), { allowFailure: true });
    await runner.run(partitionCommands.settle());
    waitForDevice(`/dev/disk/by-partlabel/${label}`);
    parts.push(`/dev/disk/by-partlabel/${label}`);
  }
  if (parts.length === 1) await runner.run(raidCommands.create({ array: spec.array, partition: parts[0]! }));
  else {
    // both members are fresh sparse images, all zeros: already in sync, so no resync is needed (test-only)
    const [, args] = raidCommands.create({ array: spec.array, partition: parts[0]! });
    sh('mdadm', [...args.slice(0, -2), '--assume-clean', ...parts]);
  }
  waitForDevice(spec.array);
  const mapped = `/dev/mapper/${spec.luksName}`;
  const lv = `/dev/${spec.volumeGroup}/${spec.host}`;
  await runner.run(luksCommands.format(spec.array, TEST_PBKDF), { input: PASSPHRASE });
  await runner.run(luksCommands.addKeyfile(spec.array, spec.keyfile, TEST_PBKDF), { input: PASSPHRASE });
  await runner.run(luksCommands.open(spec.array, spec.luksName, spec.keyfile));
  await runner.run(lvmCommands.pvcreate(mapped));
  await runner.run(lvmCommands.vgcreate(spec.volumeGroup, mapped));
  await runner.run(lvmCommands.lvcreate(spec.volumeGroup, spec.host, 'all'));
  waitForDevice(lv);
  await runner.run(mountCommands.mkfs(lv, `backup-${spec.host}`));
  mkdirSync(spec.mountpoint, { recursive: true });
  await runner.run(mountCommands.mountDevice(lv, spec.mountpoint));
  writeFileSync(join(spec.mountpoint, '.token'), spec.token, { mode: 0o600 });
  await runner.run(mountCommands.umount(spec.mountpoint));
  await runner.run(lvmCommands.deactivateGroup(spec.volumeGroup));
  await runner.run(luksCommands.close(spec.luksName));
  await runner.run(raidCommands.stop(spec.array));
}

/** A fresh keyfile, the stack on the disks, its token's hash and a config naming it all. */
export async function stackWithConfig(
  etc: string,
  spec: Omit<StackSpec, 'keyfile' | 'token'>,
  sources: { path: string; name: string }[],
  snapshotDir: string,
): Promise<string> {
  mkdirSync(etc, { recursive: true, mode: 0o700 });
  const keyfile = join(etc, 'key');
  writeFileSync(keyfile, randomBytes(1024), { mode: 0o600 });
  const token = randomBytes(64);
  await createStack({ ...spec, keyfile, token });
  writeFileSync(
    join(etc, 'token.sha512'),
    `${createHash('sha512').update(token).digest('hex')}  ${spec.mountpoint}/.token\n`,
    { mode: 0o600 },
  );
  const config = join(etc, 'config.toml');
  writeFileSync(
    config,
    `host = "${spec.host}"\nsources = [${sources.map((s) => `{ path = "${s.path}", name = "${s.name}" }`).join(', ')}]\nsnapshot_dir = "${snapshotDir}"\n` +
      `[target]\nmountpoint = "${spec.mountpoint}"\nlayers = ["raid", "luks", "lvm"]\narray = "${spec.array}"\nluks_name = "${spec.luksName}"\n` +
      `volume_group = "${spec.volumeGroup}"\n`,
    { mode: 0o600 },
  );
  return config;
}
