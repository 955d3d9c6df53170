import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRestoreOptions, type RestoreAsked } from '../../src/flows/restore/restore-mode.js';
import { UserError } from '../../src/core/errors.js';

// restore's two modes: an option of the other mode is refused with the fix, never ignored;
// the backup is named after the source in both (--from: the old name, with --path only).

const base: RestoreAsked = { source: '/home', writable: false, overwrite: false };

function refused(a: Partial<RestoreAsked>, message: RegExp, fix: RegExp): void {
  try {
    checkRestoreOptions({ ...base, ...a });
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    assert.equal(err.exitCode, 2);
    assert.match(err.message, message);
    assert.match(err.fix ?? '', fix);
    return;
  }
  assert.fail(`accepted: ${JSON.stringify(a)}`);
}

test('restore: the options of the other mode are refused, each naming the fix', () => {
  refused({ path: 'a', before: '2026-11-20' }, /--before picks a whole backup/, /btrfs-vault files \/home a/);
  refused({ path: 'a', writable: true }, /--writable makes a writable snapshot/, /leave out --writable/);
  refused({ overwrite: true }, /--overwrite replaces what is at --to with one file/, /add --path/);
  refused({ from: 'B' }, /--from names the backup of --path only/, /btrfs-vault restore \/home B --to DIR/);
  refused({ backup: 'A', before: '2026-11-20' }, /both a backup \(A\) and --before/, /give one of them/);
  refused({ path: 'a', backup: 'A', from: 'B' }, /named twice, and differently: A and --from B/, /name it once/);
  refused({ source: undefined, path: 'a' }, /--path without a SOURCE/, /name the source too/);
  refused({ source: undefined, before: 'x' }, /--before without a SOURCE/, /leave --before out/);
  refused({ source: undefined, json: true }, /without a SOURCE restore asks its questions there/, /name the source/);
});

test('restore: a backup is named after the source in both modes; --from is the same with --path', () => {
  assert.equal(checkRestoreOptions({ ...base }), undefined);
  assert.equal(checkRestoreOptions({ ...base, backup: 'A' }), 'A');
  assert.equal(checkRestoreOptions({ ...base, backup: 'A', writable: true }), 'A');
  assert.equal(checkRestoreOptions({ ...base, before: '2026-11-20', writable: true }), undefined);
  assert.equal(checkRestoreOptions({ ...base, backup: 'A', path: 'a', overwrite: true }), 'A');
  assert.equal(checkRestoreOptions({ ...base, from: 'A', path: 'a' }), 'A');
  assert.equal(checkRestoreOptions({ ...base, from: 'A', backup: 'A', path: 'a' }), 'A');
  // the picker (no SOURCE) asks the path and the backup; --writable and --overwrite wait for its answer
  assert.equal(checkRestoreOptions({ ...base, source: undefined, writable: true }), undefined);
});
