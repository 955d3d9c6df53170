import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { dataOffsetBytes, luks2HeaderBytes } from '../../src/flows/setup/existing-disk.js';
import { scratchDir } from '../support/scratch.js';

test("a member's data offset from mdadm --examine (mdadm 4.2)", () => {
  assert.equal(
    dataOffsetBytes(
      '          Avail Dev Size : 2091008 sectors (1021.00 MiB 1070.60 MB)\n     Data Offset : 4096 sectors\n    Super Offset : 8 sectors\n',
    ),
    4096 * 512,
  );
  assert.equal(dataOffsetBytes('mdadm: No md superblock detected on /dev/sdz1.'), undefined);
});

test('the length of a real LUKS2 header (made by cryptsetup on a file), and no length for anything else', () => {
  const file = join(scratchDir('luks'), 'disk.img');
  execFileSync('truncate', ['-s', '20M', file]);
  execFileSync(
    'cryptsetup',
    [
      'luksFormat',
      '--batch-mode',
      '--type',
      'luks2',
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-force-iterations',
      '1000',
      '--key-file=-',
      file,
    ],
    { input: 'correct horse battery staple' },
  );
  const fd = openSync(file, 'r');
  const read = (at: number) => (offset: number, length: number) => {
    const buf = Buffer.alloc(length);
    return buf.subarray(0, readSync(fd, buf, 0, length, at + offset));
  };
  try {
    // cryptsetup's LUKS2 default: 16 MiB of headers and keyslots before the data
    assert.equal(luks2HeaderBytes(read(0)), 16 * 1024 * 1024);
    assert.equal(luks2HeaderBytes(read(4096)), undefined, 'not a header at that offset');
  } finally {
    closeSync(fd);
  }
});
