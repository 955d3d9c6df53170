import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeyLine } from '../../src/core/authorized-keys.js';

// doctor reads the server's authorized_keys: options as sshd reads them.

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv8B7pDqaMNLWYv6RLXP2SIJ3TpQOd4WMpnKJ1y8Qx0';

test('a key line: options, a quoted command with spaces, the comment', () => {
  const k = parseKeyLine(`restrict,command="btrfs-vault serve --root /srv/v/h" ${KEY} btrfs-vault@h`)!;
  assert.deepEqual(k.options, [{ name: 'restrict' }, { name: 'command', value: 'btrfs-vault serve --root /srv/v/h' }]);
  assert.equal(k.comment, 'btrfs-vault@h');
  assert.deepEqual(parseKeyLine(`${KEY} admin@laptop`)!.options, []);
  assert.equal(parseKeyLine('# a comment'), undefined);
  assert.equal(parseKeyLine('   '), undefined);
});

test('[remote input] a quoted command holding a comma, a space and \\" is one option, not several', () => {
  const k = parseKeyLine(`command="btrfs-vault serve --root /a,restrict \\"x\\"",no-pty ${KEY} c`)!;
  assert.deepEqual(k.options, [
    { name: 'command', value: 'btrfs-vault serve --root /a,restrict "x"' },
    { name: 'no-pty' },
  ]);
  assert.ok(!k.options.some((o) => o.name === 'restrict'), 'restrict inside the quotes is no option');
});
