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
