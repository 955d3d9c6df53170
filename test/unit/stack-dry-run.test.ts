import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VaultConfig } from '../../src/config/config.js';
import { closeStack, openStack } from '../../src/stack/stack.js';
import type { StackContext } from '../../src/stack/layer.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { UserError } from '../../src/core/errors.js';
import { scratchDir } from '../support/scratch.js';

// Dry-run of a closed raid -> luks -> lvm stack with the real layer handlers. The fake
// runner answers only `mdadm --examine --scan --verbose`: any inspection of a layer above the
// array (lvs, blkid, ...) would throw, so the test also proves none happens.

const UUID = '0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9';

function setup(hash = 'a'.repeat(128)) {
  const dir = scratchDir('dry');
  const keyfile = join(dir, 'key');
  const tokenHashFile = join(dir, 'token.sha512');
  writeFileSync(keyfile, 'k', { mode: 0o600 });
  writeFileSync(tokenHashFile, `${hash}  /media/bv-unit-none/.token\n`, { mode: 0o600 });
  chmodSync(keyfile, 0o600);
  chmodSync(tokenHashFile, 0o600);
  const config = {
    file: join(dir, 'config.toml'),
    dir,
    host: 'unit',
    snapshotDir: '',
    sources: [],
    sourcesFromFile: [],
    target: {
      mountpoint: '/media/bv-unit-none',
      layers: ['raid', 'luks', 'lvm'],
      tokenFile: '/media/bv-unit-none/.token',
      tokenHashFile,
      // names no machine has: nothing of them exists, so the stack is closed
      array: '/dev/md/bv-unit-none',
      luksName: 'bv-unit-none',
      keyfile,
      volumeGroup: 'bv-unit-vg',
      logicalVolume: 'unit',
      device: '/dev/bv-unit-vg/unit',
      partition: '/dev/disk/by-partlabel/bv-unit-none',
    },
  } satisfies VaultConfig;
  const fake = new FakeRunner().on(['mdadm', ['--examine', '--scan', '--verbose']], {
    stdout: `ARRAY /dev/md/bv-unit-none  metadata=1.2 UUID=${UUID} name=any:bv-unit-none\n   devices=/dev/sdy1\n`,
  });
  const printed: string[] = [];
  const runner = new DryRunRunner(fake, (l) => printed.push(l));
  const ctx: StackContext = { runner, config, mounts: async () => [] };
  return { ctx, printed, fake, keyfile, tokenHashFile };
}

test('dry-run on a closed stack: every layer plans its open, prints its command, and closing prints too', async () => {
  const { ctx, printed, fake, keyfile } = setup();
  const steps: string[] = [];
  const stack = await openStack(ctx, (layer, outcome) => steps.push(`${layer}: ${outcome}`));
  assert.equal(stack.onPaper, true);
  assert.deepEqual(steps, [
    'raid: would-open',
    'luks: would-open',
    'lvm: would-open',
    'filesystem: would-open',
    'token: would-open',
  ]);
  assert.deepEqual(printed, [
    `would run: mdadm --assemble --run /dev/md/bv-unit-none --uuid=${UUID}`,
    `would run: cryptsetup open --type luks --key-file ${keyfile} -- /dev/md/bv-unit-none bv-unit-none`,
    'would run: lvchange --activate y -- bv-unit-vg/unit',
    'would run: mkdir -p /media/bv-unit-none',
    'would run: mount -t btrfs -- /dev/bv-unit-vg/unit /media/bv-unit-none',
    `would run: check the token: the SHA-512 of /media/bv-unit-none/.token must match ${ctx.config.target.tokenHashFile}, else the disk is refused`,
  ]);
  assert.deepEqual(fake.calls, ['mdadm --examine --scan --verbose'], 'nothing above the array was inspected');
  printed.length = 0;
  assert.deepEqual(await closeStack(ctx, stack), []);
  assert.deepEqual(printed, [
    'would run: umount -- /media/bv-unit-none',
    'would run: vgchange --activate n -- bv-unit-vg',
    'would run: cryptsetup close -- bv-unit-none',
    'would run: mdadm --stop /dev/md/bv-unit-none',
  ]);
});

test("dry-run on paper still checks the host's own files: a keyfile others can read is refused", async () => {
  const { ctx, printed, keyfile } = setup();
  chmodSync(keyfile, 0o644);
  const err = await openStack(ctx).catch((e) => e);
  assert.ok(err instanceof UserError, String(err));
  assert.match(err.fix!, /chmod 600/);
  assert.equal(printed.length, 2, 'the assemble was printed, and then the stack was closed on paper again');
  assert.match(printed[1]!, /mdadm --stop/);
});

test('dry-run on paper: a token hash file without a hash is refused', async () => {
  const { ctx } = setup('not a hash');
  await assert.rejects(openStack(ctx), /holds no SHA-512 hash/);
});

test('without an ARRAY line, of several arrays named like ours only the one holding the configured partition is assembled; none of them: refused, naming each, nothing assembled', async () => {
  const { ctx } = setup();
  const other = 'ffffffff:00000000:11111111:22222222';
  const partition = join(scratchDir('part'), 'backup-m1'); // a path realpath can resolve, as /dev/disk/by-partlabel/… is
  writeFileSync(partition, '');
  const scan = (ours: string) => ({
    stdout: `ARRAY /dev/md/bv-unit-none  metadata=1.2 UUID=${other} name=any:bv-unit-none\n   devices=/dev/sdz1\nARRAY /dev/md/bv-unit-none  metadata=1.2 UUID=${UUID} name=otherhost:bv-unit-none\n   devices=${ours}\n`,
  });
  const { raidLayer } = await import('../../src/stack/raid.js');
  const found = new FakeRunner().on(['mdadm', ['--examine', '--scan', '--verbose']], scan(partition));
  const withPartition = {
    ...ctx,
    runner: found,
    config: { ...ctx.config, target: { ...ctx.config.target, partition } },
  };
  assert.deepEqual(await raidLayer.assembly(withPartition), [
    'mdadm',
    ['--assemble', '--run', '/dev/md/bv-unit-none', `--uuid=${UUID}`],
  ]);
  const neither = new FakeRunner().on(['mdadm', ['--examine', '--scan', '--verbose']], scan('/dev/sdy1'));
  await assert.rejects(
    raidLayer.open({ ...withPartition, runner: neither }),
    (e: Error & { fix?: string }) =>
      e.message.includes(
        `carry 2 arrays of that name:\n  UUID=${other} on /dev/sdz1\n  UUID=${UUID} on /dev/sdy1\nnone holds ${partition}; nothing was assembled`,
      ) && /unplug the disks that are not/.test(e.fix ?? ''),
  );
  assert.deepEqual(neither.changes, []);
});

test('[ordering and agreement] close right after a stop, the /dev/md/NAME link not yet removed by udev: the kernel has no such array, so nothing is run (already closed)', async () => {
  const { ctx } = setup();
  const { raidLayer } = await import('../../src/stack/raid.js');
  const dir = scratchDir('md');
  // the link udev has not removed yet, to a node of an array the kernel no longer runs (not in /proc/mdstat)
  writeFileSync(join(dir, 'md127'), '');
  const array = join(dir, 'bv-unit-stopped');
  symlinkSync(join(dir, 'md127'), array);
  const none = new FakeRunner();
  const stopped = { ...ctx, runner: none, config: { ...ctx.config, target: { ...ctx.config.target, array } } };
  assert.equal(await raidLayer.close(stopped), 'already-closed');
  assert.deepEqual(none.changes, []);
});
