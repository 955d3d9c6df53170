import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { subvolumeInfo, subvolumeInfos, subvolumeInfosOrWhy } from '../../src/btrfs/subvolume-info.js';
import { ExecRunner } from '../../src/system/exec-runner.js';
import { makeLoopBtrfs, requireRoot } from '../support/loop-disk.js';
import { scratchDir } from '../support/scratch.js';
import { sh } from '../support/sh.js';

// The one ioctl that replaced `btrfs subvolume show`: what it reads must be what show
// prints, on a real filesystem, and anything that is not a subvolume itself is refused.
before(() => requireRoot());

/** UUIDs, ID and flag as `btrfs subvolume show` prints them */
function shown(path: string) {
  const text = sh('btrfs', ['subvolume', 'show', path]);
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.*)$`, 'm').exec(text)![1]!.trim();
  const uuid = (v: string) => (v === '-' ? undefined : v);
  return {
    path,
    id: Number(field('Subvolume ID')),
    uuid: field('UUID'),
    parentUuid: uuid(field('Parent UUID')),
    receivedUuid: uuid(field('Received UUID')),
    readonly: /readonly/.test(field('Flags')),
    gen: Number(field('Generation')),
    cgen: Number(field('Gen at creation')),
  };
}

test('subvolume info reads what `btrfs subvolume show` prints: a writable subvolume, its read-only snapshot, a received copy (in one call); refuses a folder inside one, a symlink, a missing path, a FIFO, a file, another filesystem', async () => {
  const dir = scratchDir('info');
  const fs = makeLoopBtrfs(dir, 'fs', 256);
  try {
    const m = fs.mountPoint;
    sh('btrfs', ['subvolume', 'create', join(m, 'live')]);
    sh('btrfs', ['subvolume', 'snapshot', '-r', join(m, 'live'), join(m, 'snap')]);
    mkdirSync(join(m, 'copies'));
    sh('bash', ['-c', `btrfs send -q ${join(m, 'snap')} | btrfs receive -q ${join(m, 'copies')}`]);
    const paths = [join(m, 'live'), join(m, 'snap'), join(m, 'copies', 'snap')];
    const runner = new ExecRunner();
    const infos = await subvolumeInfos(runner, paths);
    assert.deepEqual(infos, paths.map(shown));
    const [live, snap, copy] = infos;
    assert.deepEqual([live!.readonly, snap!.readonly, copy!.readonly], [false, true, true]);
    assert.equal(snap!.parentUuid, live!.uuid);
    assert.equal(copy!.receivedUuid, snap!.uuid, 'the proof of a complete copy');

    mkdirSync(join(m, 'live', 'folder'));
    symlinkSync(join(m, 'snap'), join(m, 'link'));
    sh('mkfifo', [join(m, 'fifo')]); // opened, it would block the call for ever
    writeFileSync(join(m, 'file'), 'x');
    for (const [path, why] of [
      [join(m, 'live', 'folder'), /not a btrfs subvolume/],
      [join(m, 'link'), /not the subvolume itself/],
      [join(m, 'gone'), /No such file/],
      [join(m, 'fifo'), /not a btrfs subvolume/],
      [join(m, 'file'), /not a btrfs subvolume/],
      [dir, /not a btrfs subvolume/],
    ] as const) {
      await assert.rejects(
        subvolumeInfo(runner, path),
        (err: Error) => why.test(err.message) && err.message.includes(path),
        path,
      );
    }
    // one bad path fails the call, named, whatever comes before it
    await assert.rejects(
      subvolumeInfos(runner, [join(m, 'snap'), join(m, 'link')]),
      /link is not the subvolume btrfs-vault expected: not the subvolume itself/,
    );
    // or each answered on its own
    const each = await subvolumeInfosOrWhy(runner, [join(m, 'gone'), join(m, 'snap')]);
    assert.ok(typeof each[0] === 'string' && /No such file/.test(each[0]), JSON.stringify(each[0]));
    assert.deepEqual(each[1], shown(join(m, 'snap')));
  } finally {
    fs.dispose();
  }
});

test("a snapshot moves its source's generation past the snapshot's creation: a live subvolume whose generation is not above its newest snapshot's has had no snapshot, nor any write, since", async () => {
  const dir = scratchDir('info-gen');
  const fs = makeLoopBtrfs(dir, 'fs', 256);
  try {
    const m = fs.mountPoint;
    const live = join(m, 'live');
    sh('btrfs', ['subvolume', 'create', live]);
    writeFileSync(join(live, 'f'), 'x');
    mkdirSync(join(m, 'elsewhere'));
    const runner = new ExecRunner();
    const commit = () => sh('btrfs', ['filesystem', 'sync', m]);
    const info = async (p: string) =>
      (await subvolumeInfo(runner, p)) as Required<Awaited<ReturnType<typeof subvolumeInfo>>>;
    sh('btrfs', ['subvolume', 'snapshot', '-r', live, join(m, 's1')]);
    commit();
    const s1 = await info(join(m, 's1'));
    // no write, a commit, another commit on the filesystem elsewhere: nothing moves
    commit();
    writeFileSync(join(m, 'elsewhere', 'g'), 'y');
    commit();
    assert.ok((await info(live)).gen <= s1.cgen, 'unchanged: not above the snapshot');
    // a snapshot taken by hand, anywhere, with no write to the source: its generation moves
    sh('btrfs', ['subvolume', 'snapshot', '-r', live, join(m, 'elsewhere', 'by-hand')]);
    commit();
    const afterHand = await info(live);
    assert.ok(afterHand.gen > s1.cgen, `a later snapshot moved it (${afterHand.gen} > ${s1.cgen})`);
    // a writable snapshot too
    sh('btrfs', ['subvolume', 'snapshot', '-r', live, join(m, 's2')]);
    commit();
    const s2 = await info(join(m, 's2'));
    assert.ok((await info(live)).gen <= s2.cgen);
    sh('btrfs', ['subvolume', 'snapshot', live, join(m, 'elsewhere', 'writable')]);
    commit();
    assert.ok((await info(live)).gen > s2.cgen, 'a writable snapshot moved it too');
    // a write, once committed
    const s3path = join(m, 's3');
    sh('btrfs', ['subvolume', 'snapshot', '-r', live, s3path]);
    commit();
    const s3 = await info(s3path);
    writeFileSync(join(live, 'f'), 'changed');
    commit();
    assert.ok((await info(live)).gen > s3.cgen, 'a write moved it');
  } finally {
    fs.dispose();
  }
});
