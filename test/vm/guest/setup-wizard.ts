import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { drivePty } from '../../support/pty.js';
import { sh } from '../../support/sh.js';
import { vmDisk, type Scenario } from './support.js';
import { backupWorks, CONFIG, source, SRC, withSources } from './setup-fixture.js';

// The interactive wizard in a real terminal (util-linux `script`), answered key by key.

const DOWN = '\x1b[B';
const PASSPHRASE = 'correct horse battery staple';
const wizard = (serial: string): [RegExp, string][] => [
  [/Which disk for the backups\?/, `${DOWN}\r`],
  // the whole stack is the default
  [/Layers of the backup disk/, '\r'],
  [/LUKS passphrase/, `${PASSPHRASE}\r`],
  [/The same passphrase again/, `${PASSPHRASE}\r`],
  [/Size of this host's volume/, '\r'],
  [/Mount point/, '\r'],
  [/Compression/, '\r'],
  [/Type the disk's serial/, `${serial}\r`],
];

export const wizardSetup: Scenario[] = [
  [
    'the interactive wizard in a terminal: a refused disk is shown with its reason, a wrong serial stops it',
    async () => {
      source();
      const r = await drivePty(
        ['node', 'dist/test-bundle/btrfs-vault.cjs', 'setup', '--config', CONFIG, '--host', 'vmhost'],
        wizard('not-the-serial'),
      );
      assert.equal(r.code, 2, r.screen.slice(-2000));
      // the screen without colours, wrapped lines joined
      const text = r.screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\s+/g, ' ');
      assert.match(text, new RegExp(`virtio-bv-src .*refused: holds the mounted filesystem ${SRC}`));
      assert.match(r.screen, /does not match the disk/);
      assert.doesNotMatch(r.screen, new RegExp(PASSPHRASE), 'the passphrase is never echoed');
      assert.ok(!existsSync(CONFIG));
      assert.equal(
        sh('lsblk', ['-n', '-o', 'NAME', vmDisk('bv-p')])
          .trim()
          .split('\n').length,
        1,
        'no partition was made',
      );
    },
  ],
  [
    'the interactive wizard in a terminal: the happy path, then a backup',
    async () => {
      const r = await drivePty(
        ['node', 'dist/test-bundle/btrfs-vault.cjs', 'setup', '--config', CONFIG, '--host', 'vmhost'],
        // after the disk: a server too? (no, the default)
        [...wizard('bv-p'), [/Also send backups to a server over SSH\?/, '\r']],
      );
      assert.equal(r.code, 0, r.screen.slice(-3000));
      assert.match(r.screen, /btrfs-vault setup/);
      assert.match(r.screen, /The backup disk is ready/);
      assert.match(r.screen, /Also send backups to a server over SSH\?/);
      assert.doesNotMatch(readFileSync(CONFIG, 'utf8'), /ssh\s*=/, 'no server said: none in the config');
      assert.doesNotMatch(r.screen, new RegExp(PASSPHRASE));
      withSources(CONFIG);
      backupWorks(CONFIG);
    },
  ],
];
