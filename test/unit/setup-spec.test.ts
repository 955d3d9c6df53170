import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LSBLK_COLUMNS, type BlockDevice } from '../../src/core/eligibility.js';
import { UserError } from '../../src/core/errors.js';
import { decideSetup, type SetupQuestions } from '../../src/flows/setup/setup-spec.js';
import { setup } from '../../src/flows/setup/setup.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

// What setup decides before its summary, in flows with the questions as an interface:
// the wipe, the passphrase, the spec and the mount point's check. Nothing is run.

const part = (name: string, fstype: string): BlockDevice => ({
  name,
  path: `/dev/${name}`,
  type: 'part',
  size: 2 ** 39,
  ro: false,
  rm: false,
  tran: null,
  model: null,
  serial: null,
  fstype,
  partlabel: 'old',
  mountpoints: [null],
  'log-sec': 512,
});
const lsblk = (children: BlockDevice[] = []) =>
  JSON.stringify({
    blockdevices: [
      {
        name: 'sdz',
        path: '/dev/sdz',
        type: 'disk',
        size: 2 ** 40,
        ro: false,
        rm: false,
        tran: 'usb',
        model: 'M',
        serial: 'Z42',
        fstype: null,
        mountpoints: [null],
        'log-sec': 512,
        ...(children.length ? { children } : {}),
      },
    ],
  });
const fake = (children?: BlockDevice[]) =>
  new FakeRunner().on(['lsblk', ['-J', '-b', '-o', LSBLK_COLUMNS]], { stdout: lsblk(children) });

/** Answers noting which questions were asked; a question not expected throws. */
function questions(
  dir: string,
  o: {
    layers?: ('raid' | 'luks' | 'lvm')[];
    wipe?: boolean;
    mountpoint?: string;
    confirm?: string;
    rotation?: boolean;
    targetName?: string;
  } = {},
) {
  const asked: string[] = [];
  const q: SetupQuestions = {
    mountpoint: join(dir, 'mnt'),
    wipeFix: 'the fix of a refused wipe',
    disk: async (survey) => (asked.push('disk'), survey.disks.find((d) => d.path === '/dev/sdz')!),
    layers: async () => (asked.push('layers'), o.layers ?? ['raid', 'luks', 'lvm']),
    passphrase: async (existing) => (
      asked.push(existing ? `passphrase of ${existing}` : 'passphrase'),
      'correct horse'
    ),
    wipe: async () => (asked.push('wipe'), o.wipe ?? false),
    details: async (d) => (
      asked.push(`details${d.askSize ? ' with size' : ''}`),
      { size: 'all', mountpoint: o.mountpoint ?? d.mountpoint, compression: 'zstd' }
    ),
    confirm: async () => (asked.push('confirm'), o.confirm ?? 'Z42'),
    rotation: async (existing) => (asked.push(`rotation besides ${existing.join(',')}`), o.rotation ?? false),
    ...(o.targetName !== undefined ? { targetName: o.targetName } : {}),
  };
  return { q, asked };
}

const decide = (runner: FakeRunner, dir: string, q: SetupQuestions) =>
  decideSetup(runner, {
    configFile: join(dir, 'config.toml'),
    host: 'deimos',
    stateFile: join(dir, 'setup-state.json'),
    questions: q,
  }).then((d) => d!);

test('setup: a disk that is not empty and a refused wipe is a user error naming the fix; nothing is run, no passphrase asked', async () => {
  const dir = scratchDir('setup-spec');
  const runner = fake([part('sdz1', 'ext4')]);
  const { q, asked } = questions(dir, { wipe: false });
  await assert.rejects(
    decide(runner, dir, q),
    (e) =>
      e instanceof UserError &&
      /\/dev\/sdz is not empty; it carries:/.test(e.message) &&
      e.fix === 'the fix of a refused wipe',
  );
  assert.deepEqual(asked, ['disk', 'layers', 'wipe']);
  assert.deepEqual(runner.changes, []);
});

test('setup: an allowed wipe destroys the partitions, then the disk; the passphrase is asked only with LUKS; the size only with LVM', async () => {
  const dir = scratchDir('setup-spec');
  const { q, asked } = questions(dir, { wipe: true });
  const d = await decide(fake([part('sdz1', 'ext4')]), dir, q);
  assert.deepEqual(
    [d.spec.mode, d.spec.wipe, d.spec.stopArray, d.passphrase, d.resuming],
    ['new-disk', ['/dev/sdz1', '/dev/sdz'], false, 'correct horse', false],
  );
  assert.deepEqual(asked, ['disk', 'layers', 'wipe', 'passphrase', 'details with size']);
  assert.equal(d.spec.keyfile, join(dir, 'key'));
  assert.equal(d.spec.label, 'backup-z42');
  const plain = questions(dir, { layers: [] });
  const p = await decide(fake(), dir, plain.q);
  assert.deepEqual(
    plain.asked,
    ['disk', 'layers', 'details'],
    'an empty disk: no wipe; no LUKS: no passphrase; no LVM: no size',
  );
  assert.deepEqual([p.spec.wipe, p.passphrase, p.spec.layers], [[], '', []]);
});

test('setup: a mount point with something else mounted on it is refused before anything is written', async () => {
  const dir = scratchDir('setup-spec');
  const runner = fake();
  const { q } = questions(dir, { mountpoint: '/proc' });
  await assert.rejects(
    decide(runner, dir, q),
    (e) =>
      e instanceof UserError &&
      /^\/proc already has proc \(proc\) mounted on it/.test(e.message) &&
      /nothing was changed$/.test(e.message),
  );
  assert.deepEqual(runner.changes, []);
});

test('setup: a resumed setup keeps its layers and mode and asks for neither', async () => {
  const dir = scratchDir('setup-spec');
  writeFileSync(
    join(dir, 'setup-state.json'),
    JSON.stringify({
      disk: '/dev/sdz',
      serial: 'Z42',
      label: 'backup-z42',
      host: 'deimos',
      mode: 'new-disk',
      layers: ['luks'],
      done: ['partition'],
    }),
  );
  const { q, asked } = questions(dir);
  const d = await decide(fake([part('sdz1', 'crypto_LUKS')]), dir, q);
  assert.deepEqual(asked, ['disk', 'passphrase', 'details'], 'no layers asked, no wipe of its own half-made disk');
  assert.deepEqual([d.resuming, d.spec.layers, d.spec.wipe, d.state.done], [true, ['luks'], [], ['partition']]);
});

test('setup: a wrong confirmation changes nothing, and a dry-run asks none', async () => {
  const dir = scratchDir('setup-spec');
  const runner = fake();
  const wrong = questions(dir, { layers: [], confirm: 'nope' });
  const printed: string[] = [];
  const run = {
    runner,
    configFile: join(dir, 'config.toml'),
    host: 'deimos',
    mode: { json: true, tty: false, dryRun: false },
    print: (t: string) => void printed.push(t),
  };
  await assert.rejects(
    setup({ ...run, questions: wrong.q }),
    (e) => e instanceof UserError && /does not match the disk \(Z42\); nothing was changed/.test(e.message),
  );
  assert.deepEqual(runner.changes, []);
  assert.equal(wrong.asked.at(-1), 'confirm');
  assert.match(printed.join(''), /sgdisk --zap-all -- \/dev\/sdz/, 'the summary was shown first');
  const dry = questions(dir, { layers: [] });
  const onPaper: string[] = [];
  const dryPrinted: string[] = [];
  await setup({
    ...run,
    runner: new DryRunRunner(runner, (l) => onPaper.push(l)),
    questions: dry.q,
    print: (t) => void dryPrinted.push(t),
  });
  assert.ok(!dry.asked.includes('confirm'));
  assert.equal(dryPrinted.at(-1), 'dry run: nothing was changed\n');
  assert.deepEqual([runner.changes, onPaper], [[], []]);
});

test('setup: the server question comes after the disk (no: the disk setup as before); a server answered in advance is checked before any disk is touched', async () => {
  const dir = scratchDir('setup-spec');
  const runner = fake();
  const run = {
    runner: new DryRunRunner(runner, () => undefined),
    configFile: join(dir, 'config.toml'),
    host: 'deimos',
    mode: { json: true, tty: false, dryRun: true },
  };
  const no = questions(dir, { layers: [] });
  const printed: string[] = [];
  const report = await setup({
    ...run,
    questions: { ...no.q, server: async (o) => (no.asked.push(`server${o.required ? ' only' : ''}`), undefined) },
    print: (t) => void printed.push(t),
  });
  assert.equal(no.asked.at(-1), 'server', 'asked last, after the disk');
  assert.equal(report.server, undefined);
  assert.equal(report.mode, 'new-disk');
  assert.equal(printed.at(-1), 'dry run: nothing was changed\n');
  assert.match(printed.join(''), /sgdisk --zap-all -- \/dev\/sdz/, 'the disk plan as without the question');

  const early = questions(dir, { layers: [] });
  const untouched = fake();
  await assert.rejects(
    setup({
      ...run,
      runner: new DryRunRunner(untouched, () => undefined),
      questions: {
        ...early.q,
        answeredServer: { ssh: 'root@vault.example.org', serveRoot: '/srv/a b', fingerprint: 'SHA256:x' },
      },
      print: () => undefined,
    }),
    (e) => e instanceof UserError && /serve-root "\/srv\/a b" is not a plain absolute path/.test(e.message),
  );
  assert.deepEqual(early.asked, [], 'no disk surveyed or asked');
  assert.deepEqual(untouched.calls, []);
});
