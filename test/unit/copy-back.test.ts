import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRunner } from '../support/fake-runner.js';
import { copyBack, copyBackCommands as c, temporaryFor } from '../../src/flows/restore/copy-back.js';

// restore --path: the destination never holds a partial copy, and what was there is
// either kept beside it (--overwrite) or left where it was.

function place(): { dir: string; to: string; tmp: string; kept: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'btrfs-vault-copyback-'));
  const to = join(dir, 'thesis.tex');
  return {
    dir,
    to,
    tmp: temporaryFor(to),
    kept: `${to}.before-restore`,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test('[space] copied to a temporary beside it, synced, then renamed into place; the original kept first with --overwrite', async () => {
  const p = place();
  try {
    writeFileSync(p.to, 'mine');
    const r = new FakeRunner()
      .on(c.copy('/b/x', p.tmp))
      .on(c.sync(p.tmp))
      .on(c.move(p.to, p.kept))
      .on(c.move(p.tmp, p.to))
      .on(c.sync(p.to));
    assert.equal(await copyBack(r, '/b/x', p.to, true), p.kept);
    assert.deepEqual(
      r.changes,
      [c.copy('/b/x', p.tmp), c.sync(p.tmp), c.move(p.to, p.kept), c.move(p.tmp, p.to), c.sync(p.to)].map(([f, a]) =>
        [f, ...a].join(' '),
      ),
    );
  } finally {
    p.done();
  }
});

test('[space] the copy fails (full): the temporary is removed, the original never moved', async () => {
  const p = place();
  try {
    writeFileSync(p.to, 'mine');
    const r = new FakeRunner()
      .on(c.copy('/b/x', p.tmp), { exitCode: 1, stderr: `cp: error writing '${p.tmp}': No space left on device` })
      .on(c.remove(p.tmp));
    await assert.rejects(
      copyBack(r, '/b/x', p.to, true),
      (e: Error & { exitCode?: number; fix?: string }) =>
        /is full/.test(e.message) && e.exitCode === 1 && /df -h/.test(e.fix ?? ''),
    );
    assert.ok(!r.changes.some((x) => x.startsWith('mv ')), r.changes.join('\n'));
    assert.equal(r.changes.at(-1), ['rm', ...c.remove(p.tmp)[1]].join(' '));
  } finally {
    p.done();
  }
});

test('[space] the last rename fails: the original goes back where it was, the copy is removed', async () => {
  const p = place();
  try {
    writeFileSync(p.to, 'mine');
    const r = new FakeRunner()
      .on(c.copy('/b/x', p.tmp))
      .on(c.sync(p.tmp))
      .on(c.move(p.to, p.kept))
      .on(c.move(p.tmp, p.to), { exitCode: 1, stderr: 'mv: cannot move: No space left on device' })
      .on(c.move(p.kept, p.to))
      .on(c.remove(p.tmp));
    await assert.rejects(copyBack(r, '/b/x', p.to, true), /cannot move/);
    assert.deepEqual(
      r.changes.slice(-2),
      [c.move(p.kept, p.to), c.remove(p.tmp)].map(([f, a]) => [f, ...a].join(' ')),
    );
  } finally {
    p.done();
  }
});

test('[signals and power] a signal while copying: nothing is renamed into place, the temporary is removed', async () => {
  const p = place();
  try {
    writeFileSync(p.to, 'mine');
    const stop = new AbortController();
    const r = new FakeRunner()
      .on(c.copy('/b/x', p.tmp), () => {
        stop.abort(new Error('interrupted by SIGTERM'));
        return {};
      })
      .on(c.sync(p.tmp))
      .on(c.remove(p.tmp));
    await assert.rejects(copyBack(r, '/b/x', p.to, true, stop.signal), /interrupted by SIGTERM/);
    assert.deepEqual(
      r.changes,
      [c.copy('/b/x', p.tmp), c.sync(p.tmp), c.remove(p.tmp)].map(([f, a]) => [f, ...a].join(' ')),
    );
    // stopped before it began: nothing runs at all
    const none = new FakeRunner();
    await assert.rejects(copyBack(none, '/b/x', p.to, true, stop.signal), /interrupted by SIGTERM/);
    assert.deepEqual(none.changes, []);
  } finally {
    p.done();
  }
});

test('[paths we are given] an existing destination without --overwrite, or a missing folder, is refused before anything runs', async () => {
  const p = place();
  try {
    writeFileSync(p.to, 'mine');
    const r = new FakeRunner();
    await assert.rejects(
      copyBack(r, '/b/x', p.to, false),
      (e: Error & { exitCode?: number }) => /exists; nothing is overwritten/.test(e.message) && e.exitCode === 2,
    );
    await assert.rejects(
      copyBack(r, '/b/x', join(p.dir, 'none', 'x'), false),
      (e: Error & { exitCode?: number }) => /not an existing folder/.test(e.message) && e.exitCode === 2,
    );
    assert.deepEqual(r.changes, []);
  } finally {
    p.done();
  }
});
