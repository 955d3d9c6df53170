import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refuseControl, udevMatchValue, unitCommandLine, unitText } from '../../src/core/unit-escape.js';

// What we write into systemd units and udev rules is escaped for the format or refused
// (the host tier checks the written units with systemd-analyze and parses the rule).

test('systemd: % and $ doubled, quotes and backslashes escaped inside quotes; control characters refused; udev matches only plain values', () => {
  assert.equal(
    unitCommandLine(['/usr/bin/node', '/a b/c%d$e"f\\g', '--config', '/etc/x.toml']),
    '/usr/bin/node "/a b/c%%d$$e\\"f\\\\g" --config /etc/x.toml',
  );
  assert.equal(unitCommandLine(['/p%i', '$HOME']), '"/p%%i" "$$HOME"');
  assert.equal(unitText('50% of $x'), '50%% of $x');
  assert.throws(() => refuseControl('the config path', '/a\nb', 'fix it'), /control character \(\\x0a\)/);
  assert.throws(() => refuseControl('x', '/a\tb', 'f'), /\\x09/);
  assert.doesNotThrow(() => refuseControl('x', '/a b/ü', 'f'));
  assert.equal(udevMatchValue('uuid', 'c0ffee00-1111-2222-3333-444455556666'), 'c0ffee00-1111-2222-3333-444455556666');
  for (const bad of ['a"b', 'a*', 'x", RUN+="/bin/sh'])
    assert.throws(() => udevMatchValue('uuid', bad), /cannot be matched by a udev rule/);
});
