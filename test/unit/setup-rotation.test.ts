import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { namedTargetDefaults, TARGET_NAME, targetLabel, targetNameFor } from '../../src/config/defaults.js';
import { normalize } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { LSBLK_COLUMNS, type BlockDevice } from '../../src/core/eligibility.js';
import { UserError } from '../../src/core/errors.js';
import { decideSetup, type SetupQuestions } from '../../src/flows/setup/setup-spec.js';
import { planSetup, rotationConfigText, type SetupSpec } from '../../src/flows/setup/setup-plan.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

// Another backup disk for this host (rotation): names of its own, derived once from
// the disk, so two disks attached at once never clash; the config gets its table.

test('the name of another disk comes from its serial: lower-case letters and digits, its tail, safe everywhere', () => {
  const d = (serial: string, byId?: string) => ({ serial, path: '/dev/sdz', ...(byId ? { byId } : {}) });
  assert.equal(targetNameFor(d('WD-WX12345678'), []), 'wdwx12345678');
  assert.equal(targetNameFor(d('S3Z9NB0K123456789A'), []), 'nb0k123456789a'.slice(-12));
  assert.equal(targetNameFor(d(''), []), 'sdz', 'no serial: the kernel name');
  assert.equal(
    targetNameFor(d('', '/dev/disk/by-id/usb-Generic_Flash_Disk_ABC-0:0'), []),
    'ashdiskabc00',
    'no serial: the tail of the by-id name',
  );
  assert.equal(targetNameFor({ serial: '', path: '/' }, []), 'disk', 'nothing to derive from at all');
  const names = namedTargetDefaults('wdwx12345678');
  assert.deepEqual(
    [
      names.array,
      names.luks_name,
      names.volume_group,
      names.mountpoint,
      names.keyfile,
      names.token_sha512,
      names.partition,
    ],
    [
      '/dev/md/backup-wdwx12345678',
      'enc-backup-wdwx12345678',
      'backup-wdwx12345678',
      '/media/backup-wdwx12345678',
      'key-wdwx12345678',
      'token-wdwx12345678.sha512',
      `/dev/disk/by-partlabel/${targetLabel('wdwx12345678')}`,
    ],
  );
});

test('[paths we are given] a serial with "/", blanks, "%", a line break or only odd characters derives a safe name', () => {
  for (const serial of ['WD/../X 1', 'a b%c\nd', '%%%%', '/\n \t', '-_-x', 'ÄÖÜ-ß-9', 'x'.repeat(300), '${IFS}$(id)']) {
    const name = targetNameFor({ serial, path: '/dev/sdq' }, []);
    assert.match(name, TARGET_NAME, JSON.stringify(serial));
    assert.match(name, /^[a-z0-9]{1,12}$/, JSON.stringify(serial));
    const n = namedTargetDefaults(name);
    // the md superblock's name field is 32 bytes, "homehost:" included
    assert.ok(`(none):${n.array.split('/').at(-1)}`.length <= 32, n.array);
    for (const v of Object.values(n)) assert.doesNotMatch(v, /[\s%$\\'"]/, v);
  }
  assert.equal(targetNameFor({ serial: '/\n \t', path: '/dev/sdq' }, []), 'sdq');
});

test('[two of us at once] two disks with the same serial get names that differ, and so do their stacks', () => {
  const d = { serial: 'Z42', path: '/dev/sdz' };
  assert.equal(targetNameFor(d, ['z42']), 'z42-2');
  assert.equal(targetNameFor(d, ['z42', 'z42-2', 'backup']), 'z42-3');
  const [a, b] = [namedTargetDefaults('z42'), namedTargetDefaults('z42-2')];
  for (const key of Object.keys(a) as (keyof typeof a)[]) if (key !== 'token') assert.notEqual(a[key], b[key], key);
  assert.match('z42-2', TARGET_NAME);
});

const part = (name: string, fstype: string, partlabel: string): BlockDevice => ({
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
  partlabel,
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

function questions(o: { rotation?: boolean; targetName?: string; wipe?: boolean } = {}) {
  const asked: string[] = [];
  const q: SetupQuestions = {
    mountpoint: '/media/backup',
    wipeFix: 'the fix of a refused wipe',
    disk: async (survey) => (asked.push('disk'), survey.disks.find((d) => d.path === '/dev/sdz')!),
    layers: async () => (asked.push('layers'), ['raid', 'luks', 'lvm']),
    passphrase: async (existing) => (
      asked.push(existing ? `passphrase of ${existing}` : 'passphrase'),
      'correct horse'
    ),
    wipe: async () => (asked.push('wipe'), o.wipe ?? false),
    details: async (d) => (
      asked.push(`details at ${d.mountpoint}`),
      { size: 'all', mountpoint: d.mountpoint, compression: 'zstd' }
    ),
    confirm: async () => (asked.push('confirm'), 'Z42'),
    rotation: async (existing) => (asked.push(`rotation besides ${existing.join(',')}`), o.rotation ?? true),
    ...(o.targetName !== undefined ? { targetName: o.targetName } : {}),
  };
  return { q, asked };
}

/** A host whose config has a backup disk (or several): its folder and config file. */
function host(config: string): { dir: string; file: string } {
  const dir = scratchDir('rotation');
  chmodSync(dir, 0o755);
  const file = join(dir, 'config.toml');
  writeFileSync(file, config, { mode: 0o600 });
  return { dir, file };
}
const FIRST = `host = "deimos"\n[target]\nmountpoint = "/media/backup"\nlayers = ["raid", "luks", "lvm"]\n`;

const decide = (runner: FakeRunner, file: string, q: SetupQuestions) =>
  decideSetup(runner, {
    configFile: file,
    host: 'deimos',
    stateFile: join(file, '..', 'setup-state.json'),
    questions: q,
  }).then((d) => d!);

test('setup on a host with a backup disk asks whether this one is another (rotation); then every name is its own', async () => {
  const { dir, file } = host(FIRST);
  const { q, asked } = questions();
  const runner = fake();
  const d = await decide(runner, file, q);
  assert.deepEqual(asked, ['disk', 'rotation besides backup', 'layers', 'passphrase', 'details at /media/backup-z42']);
  const s = d.spec;
  assert.deepEqual(
    [
      s.mode,
      s.target,
      s.label,
      s.array,
      s.luksName,
      s.volumeGroup,
      s.mountpoint,
      s.keyfile,
      s.tokenHashFile,
      s.tokenFile,
    ],
    [
      'new-disk',
      'z42',
      'backup-z42',
      '/dev/md/backup-z42',
      'enc-backup-z42',
      'backup-z42',
      '/media/backup-z42',
      join(dir, 'key-z42'),
      join(dir, 'token-z42.sha512'),
      '/media/backup-z42/.token',
    ],
  );
  assert.equal(d.state.target, 'z42', 'a resumed setup knows it is making the disk z42');
  assert.deepEqual(runner.changes, []);
  // the plan makes the stack under those names
  const commands = planSetup(s).flatMap((step) => step.commands.map((c) => `${c.argv[0]} ${c.argv[1].join(' ')}`));
  assert.ok(commands.some((c) => c.includes('/dev/md/backup-z42') && c.includes('--name=backup-z42')));
  assert.ok(commands.some((c) => /^vgcreate .*backup-z42 /.test(c)));
  assert.ok(planSetup(s).every((step) => !step.writes?.some((w) => /\/dev\/md\/backup |enc-backup |key$/.test(w))));
});

test('setup with rotation declined, or on a host without a config, is the setup of one disk as before', async () => {
  const { file } = host(FIRST);
  const declined = questions({ rotation: false });
  const d = await decide(fake(), file, declined.q);
  assert.deepEqual([d.spec.target, d.spec.array, d.spec.label], [undefined, '/dev/md/backup', 'backup-z42']);
  const none = questions();
  const dir = scratchDir('rotation');
  const n = await decide(fake(), join(dir, 'config.toml'), none.q);
  assert.ok(!none.asked.some((a) => a.startsWith('rotation')), 'no config: nothing to rotate with');
  assert.equal(n.spec.target, undefined);
});

test("[two of us at once] a disk that is one of this host's backup disks already is refused, naming its table; nothing runs", async () => {
  const { file } = host(`${FIRST}\n[targets.z42]\nlayers = []\n`);
  const runner = fake([part('sdz1', 'btrfs', 'backup-z42')]);
  await assert.rejects(
    decide(runner, file, questions().q),
    (e) =>
      e instanceof UserError &&
      /is this host's backup disk "z42" already \(\[targets\.z42\] in .*config\.toml\); nothing was changed/.test(
        e.message,
      ) &&
      /take its \[targets\.z42\] table out/.test(e.fix ?? ''),
  );
  assert.deepEqual(runner.changes, []);
  // the [target] disk offered again: its array's name is in the superblock of its member
  const first = host(FIRST);
  const member = fake([part('sdz1', 'linux_raid_member', 'backup-z42')]).on(['mdadm', ['--examine', '/dev/sdz1']], {
    stdout: '          Name : deimos:backup  (local to host deimos)\n',
  });
  await assert.rejects(
    decide(member, first.file, questions().q),
    (e) => e instanceof UserError && /backup disk "backup" already \(\[target\] in/.test(e.message),
  );
  assert.deepEqual(member.changes, []);
});

test('[two of us at once] a second disk of the same serial gets a name (and label) of its own; a target_name taken is refused', async () => {
  const { file } = host(`${FIRST}\n[targets.z42]\nlayers = []\n`);
  const d = await decide(fake(), file, questions().q);
  assert.deepEqual([d.spec.target, d.spec.label, d.spec.array], ['z42-2', 'backup-z42-2', '/dev/md/backup-z42-2']);
  await assert.rejects(
    decide(fake(), file, questions({ targetName: 'z42' }).q),
    (e) => e instanceof UserError && /named "z42" already/.test(e.message) && /z42-2/.test(e.fix ?? ''),
  );
  const named = await decide(fake(), file, questions({ targetName: 'office' }).q);
  assert.deepEqual([named.spec.target, named.spec.mountpoint], ['office', '/media/backup-office']);
});

test("rotation: the config keeps what it had, comments too, and gets the new disk's table; it loads as two disks that never clash", async () => {
  const original = `# my config\nhost = "deimos"\nsources = ["/home"] # mine\n[target]\nmountpoint = "/media/backup"\nlayers = ["raid", "luks", "lvm"]\n\n[retention.target]\ndaily = 9\n`;
  const { dir, file } = host(original);
  const d = await decide(fake(), file, questions().q);
  const spec = d.spec as SetupSpec & { target: string };
  const text = rotationConfigText(readFileSync(file, 'utf8'), spec);
  assert.ok(text.startsWith(original), 'what was there stays, byte for byte');
  assert.match(text, /^\[targets\.z42\]$/m);
  const cfg = normalize(file, configSchema.parse(parse(text)), undefined);
  assert.deepEqual(
    cfg.targets?.map((t) => [t.name, t.array, t.luksName, t.volumeGroup, t.mountpoint, t.keyfile, t.tokenHashFile]),
    [
      [
        'backup',
        '/dev/md/backup',
        'enc-backup',
        'backup',
        '/media/backup',
        join(dir, 'key'),
        join(dir, 'token.sha512'),
      ],
      [
        'z42',
        '/dev/md/backup-z42',
        'enc-backup-z42',
        'backup-z42',
        '/media/backup-z42',
        join(dir, 'key-z42'),
        join(dir, 'token-z42.sha512'),
      ],
    ],
  );
  assert.equal(cfg.targets?.[1]?.partition, '/dev/disk/by-partlabel/backup-z42');
  assert.equal(cfg.retention?.target.daily, 9, '[retention.target] as it was');
  // the plan's last step adds the table through the runner, once
  const step = planSetup(spec).at(-1)!;
  assert.equal(step.id, 'config');
  const runner = new FakeRunner();
  const ctx = { runner, config: cfg, mounts: async () => [], passphrase: '', say: () => undefined };
  assert.equal(await step.done!(ctx), false);
  await step.finish!(ctx);
  assert.equal(readFileSync(file, 'utf8'), text);
  assert.match(runner.fileChanges.join('\n'), /config\.toml/);
  assert.equal(await step.done!(ctx), true, 'a resumed setup does not add it twice');
});

test('[what we write into other formats] a config setup cannot add a table to is refused, unchanged', () => {
  const spec = {
    target: 'z42',
    configFile: '/etc/btrfs-vault/config.toml',
  } as SetupSpec & { target: string };
  // an inline targets table: a [targets.z42] header after it is not TOML
  const broken = 'host = "deimos"\ntargets = { a = { layers = [] } }\n';
  assert.throws(
    () =>
      rotationConfigText(broken, {
        ...spec,
        mode: 'new-disk',
        disk: '/dev/sdz',
        diskName: '/dev/sdz',
        label: 'backup-z42',
        wipe: [],
        diskBytes: 2 ** 40,
        host: 'deimos',
        layers: [],
        size: 'all',
        mountpoint: '/media/backup-z42',
        compression: 'zstd',
        array: '/dev/md/backup-z42',
        luksName: 'enc-backup-z42',
        keyfile: '/etc/btrfs-vault/key-z42',
        volumeGroup: 'backup-z42',
        tokenFile: '/media/backup-z42/.token',
        tokenHashFile: '/etc/btrfs-vault/token-z42.sha512',
      }),
    (e) =>
      e instanceof UserError &&
      /cannot add \[targets\.z42\]/.test(e.message) &&
      /the config was not changed/.test(e.message),
  );
});

test('[two of us at once] a derived name whose stack names a configured disk uses already (a table written by hand) is refused before anything runs', async () => {
  const { file } = host(`${FIRST}\n[targets.office]\nlayers = ["raid"]\narray = "/dev/md/backup-z42"\n`);
  const runner = fake();
  await assert.rejects(
    decide(runner, file, questions().q),
    (e) =>
      e instanceof UserError &&
      /the new backup disk "z42" would share its array \/dev\/md\/backup-z42 with the backup disk "office"; nothing was changed/.test(
        e.message,
      ) &&
      /target_name/.test(e.fix ?? ''),
  );
  assert.deepEqual(runner.changes, []);
  const named = await decide(fake(), file, questions({ targetName: 'spare' }).q);
  assert.equal(named.spec.array, '/dev/md/backup-spare');
});
