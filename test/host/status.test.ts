import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { json, withScenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { hostRecordFile } from '../../src/system/host-record.js';
import { join } from 'node:path';
import { sh } from '../support/sh.js';

before(() => requireRoot());

const codes = (st: { warnings: { code: string }[] }) => st.warnings.map((w) => w.code).sort();

test(
  'status: before the first backup, after it, with the disk away, when stale, with an incomplete copy; --check for monitoring',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const first = s.cli(['status', '--json', '--check', '--config', s.config]);
    assert.equal(first.code, 1, 'warnings stand');
    const st0 = json(first);
    assert.deepEqual(codes(st0), ['no-backup', 'retention-disabled']);
    assert.equal(st0.sources[0].lastSuccess, null);

    writeFileSync(s.config, readFileSync(s.config, 'utf8') + '\n[retention.target]\ndaily = 7\n');
    const b = json(s.cli(['--json', '--config', s.config])).sources[0];
    const ok = s.cli(['status', '--json', '--check', '--config', s.config]);
    assert.equal(ok.code, 0, ok.stdout);
    const st = json(ok);
    assert.equal(st.ok, true);
    assert.deepEqual(st.warnings, []);
    const src = st.sources[0];
    assert.ok(src.ageSeconds >= 0 && src.ageSeconds < 120);
    assert.deepEqual(
      [src.snapshots, src.nextParent, src.retentionWouldDelete],
      [{ source: 1, target: 1 }, b.snapshot, { source: 0, target: 0 }],
    );
    assert.equal(st.target.mounted, true);
    assert.ok(st.target.space.free > 0 && st.target.space.size >= st.target.space.free);
    assert.match(s.cli(['status', '--config', s.config]).stdout, /all well/);

    // the disk away: the host's record still knows
    sh('umount', [s.dst.mountPoint]);
    try {
      const away = json(s.cli(['status', '--json', '--config', s.config]));
      assert.equal(away.target.mounted, false);
      assert.equal(away.sources[0].lastSuccess, src.lastSuccess);
      assert.equal(away.sources[0].snapshots.target, null);
      // a week and more later
      const file = hostRecordFile(s.config);
      const record = JSON.parse(readFileSync(file, 'utf8'));
      record.sources[b.name].lastSuccess = new Date(Date.now() - 10 * 86_400_000).toISOString();
      record.targetSeen = new Date(Date.now() - 10 * 86_400_000).toISOString();
      writeFileSync(file, JSON.stringify(record));
      const stale = s.cli(['status', '--json', '--check', '--config', s.config]);
      assert.equal(stale.code, 1);
      assert.deepEqual(codes(json(stale)), ['stale-backup', 'target-not-seen']);
      assert.match(
        s.cli(['status', '--config', s.config]).stdout,
        /! the last backup of .* is 10d00h old \(status.max_age: 7d00h\)/,
      );
    } finally {
      sh('mount', [s.dst.device, s.dst.mountPoint]);
    }

    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=100', 'status=none']);
    assert.equal(s.cli(['--config', s.config], { BTRFS_VAULT_TEST_KILL_AT: 'during-send' }).code, -1);
    const cut = json(s.cli(['status', '--json', '--config', s.config]));
    assert.equal(cut.sources[0].incomplete.length, 1);
    assert.ok(codes(cut).includes('incomplete-copy'));
  }),
);
