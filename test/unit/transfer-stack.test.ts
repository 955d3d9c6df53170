import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { transfer } from '../../src/btrfs/transfer.js';
import { subvolumeInfoArgv } from '../../src/btrfs/subvolume-info.js';
import { FakeRunner } from '../support/fake-runner.js';
import { closeStack, openStack } from '../../src/stack/stack.js';
import type { LayerHandler, StackContext } from '../../src/stack/layer.js';
import { scratchDir } from '../support/scratch.js';

/** what the subvolume-info program says of a received copy: ID, read-only, UUID, parent, received UUID */
const info = (received: string, ro = true) => ({
  stdout: `258 ${ro ? 1 : 0} 9e694791-add3-3749-a805-5d978d2a2386 - ${received}\n`,
});

test('transfer: incremental send into receive, then proof of completeness', async () => {
  const dir = scratchDir('t');
  const r = new FakeRunner()
    .on(
      [
        ['btrfs', ['send', '-q', '-p', '/s/a', '--', '/s/b']],
        ['btrfs', ['receive', '--', dir]],
      ],
      { bytes: 1234 },
    )
    .on(subvolumeInfoArgv([`${dir}/b`]), info('u-b'));
  const seen: number[] = [];
  const out = await transfer(r, {
    snapshot: '/s/b',
    snapshotUuid: 'u-b',
    parent: '/s/a',
    targetDir: dir,
    onProgress: (b) => seen.push(b),
  });
  assert.equal(out.bytes, 1234);
  assert.deepEqual(seen, [1234]);
});

test('transfer: a copy whose received uuid is wrong is deleted and reported', async () => {
  const dir = scratchDir('t');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'b'));
  const r = new FakeRunner()
    .on(
      [
        ['btrfs', ['send', '-q', '--', '/s/b']],
        ['btrfs', ['receive', '--', dir]],
      ],
      { bytes: 1 },
    )
    .on(subvolumeInfoArgv([`${dir}/b`]), info('-', false))
    .on(['btrfs', ['subvolume', 'delete', '--', `${dir}/b`]]);
  await assert.rejects(transfer(r, { snapshot: '/s/b', snapshotUuid: 'u-b', targetDir: dir }), /not a complete copy/);
  assert.equal(r.calls.at(-1), `btrfs subvolume delete -- ${dir}/b`);
});

test('transfer: a received path the kernel does not call a subvolume is an error naming it, and is deleted', async () => {
  const dir = scratchDir('t');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'b'));
  const r = new FakeRunner()
    .on(
      [
        ['btrfs', ['send', '-q', '--', '/s/b']],
        ['btrfs', ['receive', '--', dir]],
      ],
      { bytes: 1 },
    )
    .on(subvolumeInfoArgv([`${dir}/b`]), { stdout: '! not a btrfs subvolume\n' })
    .on(['btrfs', ['subvolume', 'delete', '--', `${dir}/b`]]);
  await assert.rejects(
    transfer(r, { snapshot: '/s/b', snapshotUuid: 'u-b', targetDir: dir }),
    (err: Error & { fix?: string }) =>
      err.message.includes(`${dir}/b is not the subvolume btrfs-vault expected: not a btrfs subvolume`) &&
      /btrfs subvolume show/.test(err.fix ?? ''),
  );
  assert.equal(r.calls.at(-1), `btrfs subvolume delete -- ${dir}/b`);
});

test('transfer: a failed receive leaves no partial copy behind', async () => {
  const dir = scratchDir('t');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'b'));
  const r = new FakeRunner()
    .on(
      [
        ['btrfs', ['send', '-q', '--', '/s/b']],
        ['btrfs', ['receive', '--', dir]],
      ],
      { exitCode: 1, stderr: 'ERROR: boom' },
    )
    .on(['btrfs', ['subvolume', 'delete', '--', `${dir}/b`]]);
  await assert.rejects(transfer(r, { snapshot: '/s/b', snapshotUuid: 'u', targetDir: dir }), /boom/);
  assert.deepEqual(r.calls.slice(1), [`btrfs subvolume delete -- ${dir}/b`]);
});

function layer(name: string, log: string[], state: { up: boolean }, fail = false): LayerHandler {
  return {
    name,
    create: () => [],
    inspect: async () => ({ up: state.up, detail: '' }),
    open: async () => {
      if (fail) throw new Error(`${name} refused`);
      if (state.up) return 'already-open';
      state.up = true;
      log.push(`open ${name}`);
      return 'opened';
    },
    close: async () => {
      if (!state.up) return 'already-closed';
      state.up = false;
      log.push(`close ${name}`);
      return 'closed';
    },
    openOnPaper: async () => void log.push(`would open ${name}`),
    closeOnPaper: async () => void log.push(`would close ${name}`),
  };
}

test('stack: opens bottom-up, closes top-down only what it opened, and closes again on failure', async () => {
  const { stackLayers } = await import('../../src/stack/stack.js');
  const cfg = (layers: string[]) => ({ config: { target: { layers } } }) as unknown as StackContext;
  assert.deepEqual(
    stackLayers(cfg([])).map((l) => l.name),
    ['filesystem', 'token'],
  );
  assert.deepEqual(
    stackLayers(cfg(['raid', 'luks', 'lvm'])).map((l) => l.name),
    ['raid', 'luks', 'lvm', 'filesystem', 'token'],
  );
  const log: string[] = [];
  const layers = [layer('raid', log, { up: true }), layer('luks', log, { up: false }), layer('fs', log, { up: false })];
  // raid was up before: it stays up; luks and fs were opened here: closed again
  const ctx = { runner: { changesTakeEffect: true } } as StackContext;
  const opened = await openStack(ctx, undefined, layers);
  assert.deepEqual(log, ['open luks', 'open fs']);
  await closeStack(ctx, opened);
  assert.deepEqual(log, ['open luks', 'open fs', 'close fs', 'close luks']);

  // unattended (plug-in, timer): the array udev assembled when the disk appeared sat idle
  // under closed layers; it is closed with them, so the disk can go. A stack someone
  // left fully open is left as it is all the same.
  const logIdle: string[] = [];
  const idle = await openStack(
    ctx,
    undefined,
    [layer('raid', logIdle, { up: true }), layer('luks', logIdle, { up: false }), layer('fs', logIdle, { up: false })],
    undefined,
    true,
  );
  await closeStack(ctx, idle);
  assert.deepEqual(logIdle, ['open luks', 'open fs', 'close fs', 'close luks', 'close raid']);
  const logUp: string[] = [];
  const allUp = await openStack(
    ctx,
    undefined,
    [layer('raid', logUp, { up: true }), layer('luks', logUp, { up: true })],
    undefined,
    true,
  );
  await closeStack(ctx, allUp);
  assert.deepEqual(logUp, []);

  const log2: string[] = [];
  const failing = [layer('luks', log2, { up: false }), layer('token', log2, { up: false }, true)];
  await assert.rejects(openStack(ctx, undefined, failing), /token refused/);
  assert.deepEqual(log2, ['open luks', 'close luks']);

  // lvm came up by itself when luks opened (udev): it is closed with luks, before it
  const log3: string[] = [];
  const lvmState = { up: false };
  const luks = layer('luks', log3, { up: false });
  const autoLuks: LayerHandler = {
    ...luks,
    open: async (c) => {
      const o = await luks.open(c);
      lvmState.up = true;
      return o;
    },
  };
  const opened3 = await openStack(ctx, undefined, [autoLuks, layer('lvm', log3, lvmState)]);
  await closeStack(ctx, opened3);
  assert.deepEqual(log3, ['open luks', 'close lvm', 'close luks']);

  // dry-run: the first layer that would open (its open printed a command) puts every
  // layer above it on paper; none of them inspects, and closing prints as well
  const log4: string[] = [];
  const dry = { runner: { changesTakeEffect: false } } as StackContext;
  const noInspect = (l: LayerHandler): LayerHandler => ({
    ...l,
    inspect: () => assert.fail(`${l.name} inspected`),
    open: l.name === 'raid' ? (c) => l.open(c) : () => assert.fail(`${l.name} opened for real`),
  });
  const steps: string[] = [];
  const paper = await openStack(dry, (layer, outcome) => steps.push(`${layer} ${outcome}`), [
    layer('raid', log4, { up: false }),
    noInspect(layer('luks', log4, { up: false })),
    noInspect(layer('fs', log4, { up: false })),
  ]);
  assert.equal(paper.onPaper, true);
  assert.deepEqual(steps, ['raid would-open', 'luks would-open', 'fs would-open']);
  await closeStack(dry, paper);
  assert.deepEqual(log4, [
    'open raid',
    'would open luks',
    'would open fs',
    'would close fs',
    'would close luks',
    'would close raid',
  ]);
  // a dry-run over a stack that is already open opens nothing on paper
  const up = await openStack(dry, undefined, [layer('raid', [], { up: true }), layer('fs', [], { up: true })]);
  assert.deepEqual(up, { opened: [], onPaper: false });
});

test("stack: a run's close leaves an array in resync running (stopped, it would only go on during runs), with what is below it; an explicit close stops it", async () => {
  const ctx = { runner: { changesTakeEffect: true } } as StackContext;
  const make = (log: string[], busy: { why?: string }) => {
    const raid = layer('raid', log, { up: true });
    return [
      { ...raid, busy: async () => busy.why },
      layer('luks', log, { up: false }),
      layer('fs', log, { up: false }),
    ];
  };
  // unattended: the array found up and idle below is adopted, then found resyncing at the close
  const log: string[] = [];
  const busy = { why: undefined as string | undefined };
  const stack = await openStack(ctx, undefined, make(log, busy), undefined, true);
  busy.why = 'resync 12.5%';
  const kept: string[] = [];
  assert.deepEqual(await closeStack(ctx, stack, (l, why) => kept.push(`${l}: ${why}`)), []);
  assert.deepEqual(log, ['open luks', 'open fs', 'close fs', 'close luks']);
  assert.deepEqual(kept, ['raid: resync 12.5%']);
  // once the resync is done, the next close stops it
  const again = await closeStack(ctx, { opened: stack.opened.slice(0, 1), onPaper: false }, (l) => kept.push(l));
  busy.why = undefined;
  assert.deepEqual([again, kept.length], [[], 2], 'still busy: kept again');
  await closeStack(ctx, { opened: stack.opened.slice(0, 1), onPaper: false }, (l) => kept.push(l));
  assert.equal(log.at(-1), 'close raid');
  // `btrfs-vault close` (no keepBusy): closed whatever it is doing
  const log2: string[] = [];
  const explicit = await openStack(ctx, undefined, make(log2, { why: 'resync 50.0%' }), undefined, true);
  await closeStack(ctx, explicit);
  assert.deepEqual(log2, ['open luks', 'open fs', 'close fs', 'close luks', 'close raid']);
});
