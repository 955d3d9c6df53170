import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { knownHostsName, trustsKeyFor } from '../../src/flows/remote/known-hosts.js';

// Which known_hosts lines ssh would take a key from for a server: the pin replaces all of them.

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxyz';
const name = knownHostsName('127.0.0.1', 2222);

function hashed(n: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(n).digest('base64')}`;
}

test('knownHostsName: the bare host on port 22, [host]:port elsewhere', () => {
  assert.equal(knownHostsName('vault.example.org', 22), 'vault.example.org');
  assert.equal(name, '[127.0.0.1]:2222');
});

test('trustsKeyFor: every form of a line that names the server', () => {
  for (const patterns of [
    name,
    `other.example,${name}`,
    '[127.0.0.*]:2222',
    '[127.0.0.?]:222?',
    '*',
    hashed(name),
    `@cert-authority ${name}`,
  ]) {
    const line = `${patterns} ${KEY}`;
    assert.equal(trustsKeyFor(line, name), true, line);
  }
  // ssh compares names without case
  assert.equal(trustsKeyFor(`VAULT.Example.org ${KEY}`, knownHostsName('vault.example.org', 22)), true);
});

test('trustsKeyFor: lines of other servers, other ports, negations, @revoked and comments are kept', () => {
  for (const line of [
    `127.0.0.1 ${KEY}`,
    `[127.0.0.1]:2223 ${KEY}`,
    `other.example ${KEY}`,
    `${hashed('[127.0.0.1]:2223')} ${KEY}`,
    `*,![127.0.0.1]:2222 ${KEY}`,
    `@revoked ${name} ${KEY}`,
    `# ${name} ${KEY}`,
    '',
    `[127.0.0.1]:22222 ${KEY}`,
    `127.0.0.1]:2222 ${KEY}`,
  ])
    assert.equal(trustsKeyFor(line, name), false, line);
});
