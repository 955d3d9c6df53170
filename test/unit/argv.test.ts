import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeArgv } from '../../src/cli/argv.js';

test('a bare word where the implicit backup would take a path goes to commander as a command (which refuses an unknown one); paths with a "/" still mean backup', () => {
  assert.deepEqual(normalizeArgv(['lsit']), ['lsit']);
  assert.deepEqual(normalizeArgv(['--config', '/etc/x.toml', 'frobnicate']), ['frobnicate', '--config', '/etc/x.toml']);
  assert.deepEqual(normalizeArgv(['-b', 'home']), ['home', '-b']);
  assert.deepEqual(normalizeArgv(['./lsit']), ['backup', './lsit']);
  assert.deepEqual(normalizeArgv(['-b', '/']), ['backup', '-b', '/']);
  assert.deepEqual(normalizeArgv(['backup', 'lsit']), ['backup', 'lsit']);
  assert.deepEqual(normalizeArgv(['--', 'lsit']), ['backup', '--', 'lsit']);
});
