import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAnswers } from '../../src/config/answers.js';
import type { LayerName } from '../../src/config/defaults.js';
import { ProblemsError } from '../../src/core/errors.js';
import { layersAsk } from '../../src/stack/layers.js';
import { scratchDir } from '../support/scratch.js';

// as setup loads them: the layers' handlers say which need the passphrase
const needsPassphrase = (layers: readonly LayerName[]) => layersAsk(layers, 'passphrase');

async function problemsOf(toml: string): Promise<string[]> {
  const file = join(scratchDir('answers'), 'answers.toml');
  writeFileSync(file, toml);
  const err = await loadAnswers(file, needsPassphrase).catch((e) => e);
  assert.ok(err instanceof ProblemsError, String(err));
  return [...err.problems];
}

test('answers: each problem names the key, what was found, what is expected and the fix', async () => {
  const base = 'disk = "/dev/sdz"\nconfirm = "X1"\npassphrase_file = "/root/pass"\n';
  const [typo] = await problemsOf(`${base}wipe = true\n`);
  assert.match(typo!, /unknown key wipe\n {4}fix: did you mean wipe_existing\? .*docs\/GUIDE\.md, "A new backup disk"/);
  const [type] = await problemsOf(`${base}wipe_existing = "yes"\n`);
  assert.match(
    type!,
    /wipe_existing = "yes" is a string; expected a boolean: true to destroy what the disk carries\n {4}fix: write it like this: wipe_existing = false/,
  );
  const [size] = await problemsOf(`${base}size = "lots"\n`);
  assert.match(size!, /size = "lots" is not a size; expected a string: "all" or a size like "250G"/);
  const [disk] = await problemsOf(base.replace('/dev/sdz', 'sdz'));
  assert.match(disk!, /disk = "sdz" is not a device path/);
  const missing = await problemsOf('disk = "/dev/sdz"\n');
  assert.deepEqual(
    missing.map((p) => p.split(':')[1]!.trim().split(' ')[0]),
    ['confirm', 'passphrase_file'],
  );
  assert.match(missing[0]!, /confirm is missing; expected a string: the disk's serial/);
});

test('answers: layers, bottom-up, the whole stack by default; a passphrase file only when they include luks', async () => {
  const file = join(scratchDir('answers'), 'answers.toml');
  const base = 'disk = "/dev/sdz"\nconfirm = "X1"\n';
  writeFileSync(file, `${base}passphrase_file = "/root/pass"\n`);
  assert.deepEqual((await loadAnswers(file, needsPassphrase)).layers, ['raid', 'luks', 'lvm']);
  writeFileSync(file, `${base}layers = []\n`);
  assert.deepEqual((await loadAnswers(file, needsPassphrase)).layers, [], 'a plain disk needs no passphrase');
  writeFileSync(file, `${base}layers = ["raid"]\n`);
  assert.deepEqual((await loadAnswers(file, needsPassphrase)).layers, ['raid']);
  const [noPass] = await problemsOf(`${base}layers = ["raid", "luks"]\n`);
  assert.match(
    noPass!,
    /passphrase_file is missing; expected a string: the file holding the LUKS passphrase \(when the layers include luks\)/,
  );
  const [order] = await problemsOf(`${base}layers = ["lvm", "raid"]\n`);
  assert.match(
    order!,
    /layers = \["lvm", "raid"\] is not each layer at most once, bottom-up in the order raid, luks, lvm/,
  );
  const [unknown] = await problemsOf(`${base}layers = ["zfs"]\n`);
  assert.match(unknown!, /layers/);
});

test('answers: [server] alone is a server-only setup (no disk, confirm or passphrase asked); neither a disk nor a server names the disk', async () => {
  const file = join(scratchDir('answers'), 'server.toml');
  const server =
    '[server]\nssh = "root@vault.example.org"\nfingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"\n';
  writeFileSync(file, server);
  const a = await loadAnswers(file, needsPassphrase);
  assert.equal(a.disk, undefined);
  assert.equal(a.server?.ssh, 'root@vault.example.org');
  const none = await problemsOf('layers = []\n');
  assert.deepEqual(
    none.map((p) => p.split(':')[1]!.trim().split(' ')[0]),
    ['disk'],
  );
  // a disk with a server still needs its confirmation and passphrase
  const both = await problemsOf(`disk = "/dev/sdz"\n${server}`);
  assert.deepEqual(
    both.map((p) => p.split(':')[1]!.trim().split(' ')[0]),
    ['confirm', 'passphrase_file'],
  );
  // the fingerprint is what makes it unattended: without it nothing could confirm the host key
  const [fp] = await problemsOf('[server]\nssh = "root@vault.example.org"\n');
  assert.match(fp!, /server\.fingerprint/);
});
