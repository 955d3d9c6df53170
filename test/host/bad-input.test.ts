import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { tree } from '../support/tree.js';
import { requireRoot } from '../support/loop-disk.js';
import { sourceName } from '../../src/core/naming.js';
import { sh } from '../support/sh.js';

// The bad-input corpus: configs, sources files and command lines that must each be
// refused with a message naming what is wrong and the fix, exit 2 (bad input), and
// nothing written. One pair of loop filesystems serves every case: the base config
// backs up for real first, so a case that were not refused would write a snapshot.

before(() => requireRoot());

let s: Scenario;
const config = (dir: string) => join(dir, 'config.toml');
let written: string;
const results: { name: string; ok: boolean }[] = [];

before(() => {
  s = makeScenario({ sizeMiB: 256 });
  writeFileSync(join(s.data, 'file'), 'data');
  mkdirSync(join(s.src.mountPoint, 'plainfolder'));
  sh('btrfs', ['subvolume', 'create', join(s.src.mountPoint, 'other')]);
  symlinkSync(s.data, join(s.src.mountPoint, 'data-link'));
  // control: the unchanged config works, so each refusal below is the bad input's doing
  const control = s.cli(['backup', '--config', config(caseDir({ 'config.toml': toml() }))]);
  assert.equal(control.code, 0, control.stderr);
  written = state();
});

after(() => {
  const refused = results.filter((r) => r.ok).length;
  console.log(`bad inputs: ${results.length}, refused cleanly: ${refused}`);
  s?.dispose();
});

/** Everything a run could write: the subvolumes of both filesystems and every file on them. */
function state(): string {
  const subvolumes = [s.src.mountPoint, s.dst.mountPoint].map((m) =>
    sh('btrfs', ['subvolume', 'list', m]).replace(/ gen \d+/g, ''),
  );
  return JSON.stringify([subvolumes, tree(s.src.mountPoint), tree(s.dst.mountPoint)]);
}

/** The base config, valid; a case replaces the sources line or adds lines. */
function toml(o: { sources?: string; top?: string; target?: string; noTarget?: boolean } = {}): string {
  return [
    'host = "testhost"',
    o.sources ?? `sources = [${JSON.stringify(s.data)}]`,
    `snapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}`,
    o.top ?? '',
    ...(o.noTarget
      ? []
      : [
          '[target]',
          `mountpoint = ${JSON.stringify(s.dst.mountPoint)}`,
          `token_sha512 = ${JSON.stringify(join(s.configDir, 'token.sha512'))}`,
          o.target ?? '',
        ]),
    '',
  ].join('\n');
}

/** A config folder of its own for one case: root's, 0700, with these files. */
function caseDir(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(s.dir, 'case-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  return dir;
}

interface Case {
  name: string;
  /** files of the case's config folder (default: the base config) */
  files?: () => Record<string, string | Buffer>;
  /** more to do to the folder before the run */
  prepare?: (dir: string) => void;
  /** the command line (default: backup with this config) */
  args?: (dir: string) => string[];
  /** what the message must name: the key, path or option, and what is wrong */
  says: RegExp;
  /** how the fix shows; default a `fix:` line */
  fix?: RegExp;
}

const FIX = /^\s*(fix: |✖.*\n\s+fix: )\S/m;
// commander's own refusals show the command's usage and options: that is their fix
const USAGE = /error: .*\n[^]*Usage: btrfs-vault/;

const configCases: Case[] = [
  // keys that do not exist
  {
    name: 'unknown top-level key',
    files: () => ({ 'config.toml': toml({ top: 'colour = "blue"' }) }),
    says: /unknown key colour/,
  },
  {
    name: 'unknown key in [target]',
    files: () => ({ 'config.toml': toml({ target: 'layer = []' }) }),
    says: /\[target\] unknown key layer\n\s+fix: did you mean layers\?/,
  },
  {
    name: 'unknown key in a source table',
    files: () => ({ 'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, nmae = "d" }]` }) }),
    says: /sources\[0\]: unknown key nmae\n\s+fix: did you mean name\?/,
  },
  // a wrong type for every key
  {
    name: 'sources is a string',
    files: () => ({ 'config.toml': toml({ sources: 'sources = "/home"' }) }),
    says: /sources = "\/home" is a string; expected an array of paths or tables/,
  },
  {
    name: 'a source is a number',
    files: () => ({ 'config.toml': toml({ sources: 'sources = [1]' }) }),
    says: /sources\[0\] = 1 is an integer; expected a path/,
  },
  {
    name: 'a source path is a boolean',
    files: () => ({ 'config.toml': toml({ sources: 'sources = [{ path = true }]' }) }),
    says: /sources\[0\]\.path = true is a boolean; expected a string/,
  },
  {
    name: 'a source name is a number',
    files: () => ({ 'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, name = 3 }]` }) }),
    says: /sources\[0\]\.name = 3 is an integer; expected a string: one folder name/,
  },
  {
    name: 'a source snapshot_dir is an array',
    files: () => ({
      'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, snapshot_dir = ["/s"] }]` }),
    }),
    says: /sources\[0\]\.snapshot_dir = \["\/s"\] is an array; expected a string/,
  },
  {
    name: 'host is a number',
    files: () => ({ 'config.toml': toml().replace('host = "testhost"', 'host = 5') }),
    says: /host = 5 is an integer; expected a string: a host name/,
  },
  {
    name: 'snapshot_dir is a table',
    files: () => ({ 'config.toml': toml().replace(/snapshot_dir = .*/, 'snapshot_dir = { path = "/s" }') }),
    says: /snapshot_dir = \{ path = "\/s" \} is a table; expected a string/,
  },
  {
    name: 'target is a string',
    files: () => ({ 'config.toml': toml({ noTarget: true, top: 'target = "/media/backup"' }) }),
    says: /target = "\/media\/backup" is a string; expected a table/,
  },
  {
    name: 'target.mountpoint is a number',
    files: () => ({ 'config.toml': toml({ noTarget: true, top: '[target]\nmountpoint = 1' }) }),
    says: /target\.mountpoint = 1 is an integer; expected a string/,
  },
  {
    name: 'target.layers is a string',
    files: () => ({ 'config.toml': toml({ target: 'layers = "raid"' }) }),
    says: /target\.layers = "raid" is a string; expected an array of layer names/,
  },
  {
    name: 'target.token is a float',
    files: () => ({ 'config.toml': toml({ target: 'token = 1.5' }) }),
    says: /target\.token = 1\.5 is a float; expected a string/,
  },
  {
    name: 'target.token_sha512 is a boolean',
    files: () => ({
      'config.toml': toml({
        noTarget: true,
        top: `[target]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\ntoken_sha512 = false`,
      }),
    }),
    says: /target\.token_sha512 = false is a boolean; expected a string/,
  },
  {
    name: 'target.array is an array',
    files: () => ({ 'config.toml': toml({ target: 'array = []' }) }),
    says: /target\.array = \[\] is an array; expected a string/,
  },
  {
    name: 'target.luks_name is a boolean',
    files: () => ({ 'config.toml': toml({ target: 'luks_name = true' }) }),
    says: /target\.luks_name = true is a boolean; expected a string: a device-mapper name/,
  },
  {
    name: 'target.keyfile is a date',
    files: () => ({ 'config.toml': toml({ target: 'keyfile = 2026-01-01' }) }),
    says: /target\.keyfile = 2026-01-01 is a date; expected a string/,
  },
  {
    name: 'target.volume_group is a number',
    files: () => ({ 'config.toml': toml({ target: 'volume_group = 7' }) }),
    says: /target\.volume_group = 7 is an integer; expected a string: an LVM volume group name/,
  },
  {
    name: 'target.device is a number',
    files: () => ({ 'config.toml': toml({ target: 'device = 0' }) }),
    says: /target\.device = 0 is an integer; expected a string/,
  },
  {
    name: 'target.partition is a table',
    files: () => ({ 'config.toml': toml({ target: 'partition = {}' }) }),
    says: /target\.partition = \{ {2}\} is a table; expected a string/,
  },
  // empty strings, relative paths, line breaks and NUL
  {
    name: 'an empty source',
    files: () => ({ 'config.toml': toml({ sources: 'sources = [""]' }) }),
    says: /sources\[0\] = "" is empty/,
  },
  {
    name: 'an empty host',
    files: () => ({ 'config.toml': toml().replace('host = "testhost"', 'host = ""') }),
    says: /host = "" is empty/,
  },
  {
    name: 'an empty mountpoint',
    files: () => ({ 'config.toml': toml().replace(/mountpoint = .*/, 'mountpoint = ""') }),
    says: /target\.mountpoint = "" is empty/,
  },
  {
    name: 'an empty snapshot_dir',
    files: () => ({ 'config.toml': toml().replace(/snapshot_dir = .*/, 'snapshot_dir = ""') }),
    says: /snapshot_dir = "" is empty/,
  },
  {
    name: 'an empty source name',
    files: () => ({ 'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, name = "" }]` }) }),
    says: /sources\[0\]\.name: the name "" is empty/,
  },
  {
    name: 'a relative source path',
    files: () => ({ 'config.toml': toml({ sources: 'sources = ["data"]' }) }),
    says: /sources\[0\]: source "data" is not an absolute path/,
  },
  {
    name: 'a relative mountpoint',
    files: () => ({ 'config.toml': toml().replace(/mountpoint = .*/, 'mountpoint = "media/backup"') }),
    says: /target\.mountpoint: "media\/backup" is not an absolute path/,
  },
  {
    name: 'the root filesystem as mountpoint',
    files: () => ({ 'config.toml': toml().replace(/mountpoint = .*/, 'mountpoint = "/"') }),
    says: /target\.mountpoint: "\/" is the root filesystem/,
  },
  {
    name: 'a relative device',
    files: () => ({ 'config.toml': toml({ target: 'device = "sdb1"' }) }),
    says: /target\.device: "sdb1" is not an absolute path/,
  },
  {
    name: 'a token off the backup filesystem',
    files: () => ({ 'config.toml': toml({ target: 'token = "/etc/passwd"' }) }),
    says: /target\.token: "\/etc\/passwd" is not on the backup filesystem/,
  },
  {
    name: 'a token above the mount point',
    files: () => ({ 'config.toml': toml({ target: 'token = "../.token"' }) }),
    says: /target\.token: "\.\.\/\.token" is not on the backup filesystem/,
  },
  {
    name: 'a line break in a source path',
    files: () => ({ 'config.toml': toml({ sources: 'sources = ["/srv/a\\nb"]' }) }),
    says: /sources\[0\] = "\/srv\/a\\nb" contains a line break or NUL byte/,
  },
  {
    name: 'a NUL byte in the mountpoint',
    files: () => ({ 'config.toml': toml().replace(/mountpoint = .*/, 'mountpoint = "/media/b\\u0000x"') }),
    says: /target\.mountpoint = "\/media\/b\\u0000x" contains a line break or NUL byte/,
  },
  {
    name: 'a carriage return in the snapshot folder',
    files: () => ({ 'config.toml': toml().replace(/snapshot_dir = .*/, 'snapshot_dir = "/snap\\rshots"') }),
    says: /snapshot_dir = "\/snap\\rshots" contains a line break/,
  },
  // duplicates and names
  {
    name: 'a source listed twice (written two ways)',
    files: () => ({
      'config.toml': toml({
        sources: `sources = [${JSON.stringify(s.data)}, ${JSON.stringify(s.data.replace('/data', '//data/'))}]`,
      }),
    }),
    says: /source .*\/data is listed twice/,
  },
  {
    name: 'two sources with one folder name',
    files: () => ({ 'config.toml': toml({ sources: `sources = ["/x-y", "/x/y"]` }) }),
    says: /sources \/x-y and \/x\/y would both be stored as "x-y"[^]*fix: .*name = "\.\.\."/,
  },
  {
    name: 'an explicit name clashing with a derived one',
    files: () => ({
      'config.toml': toml({
        sources: `sources = [${JSON.stringify(s.data)}, { path = "/elsewhere", name = ${JSON.stringify(sourceName(s.data))} }]`,
      }),
    }),
    says: /would both be stored as/,
  },
  {
    name: 'a source name ".."',
    files: () => ({
      'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, name = ".." }]` }),
    }),
    says: /sources\[0\]\.name: the name "\.\." is not a folder name/,
  },
  {
    name: 'a source name with "/"',
    files: () => ({
      'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, name = "a/b" }]` }),
    }),
    says: /the name "a\/b" contains "\/"/,
  },
  {
    name: 'a derived name over 255 bytes',
    files: () => ({ 'config.toml': toml({ sources: `sources = ["/${'d'.repeat(200)}/${'e'.repeat(60)}"]` }) }),
    says: /the folder name derived from .* is 261 bytes long; a folder name may have at most 255/,
  },
  {
    name: 'a source name over 255 bytes',
    files: () => ({
      'config.toml': toml({ sources: `sources = [{ path = ${JSON.stringify(s.data)}, name = "${'ü'.repeat(128)}" }]` }),
    }),
    says: /sources\[0\]\.name: .* is 256 bytes long/,
  },
  {
    name: 'a source named like the token',
    files: () => ({
      'config.toml': toml({
        sources: `sources = [{ path = ${JSON.stringify(s.data)}, name = "tok" }]`,
        target: 'token = "tok"',
      }),
    }),
    says: /would be stored as "tok", where target\.token = "tok" lives/,
  },
  {
    name: 'one subvolume twice through a symlink',
    files: () => ({
      'config.toml': toml({
        sources: `sources = [${JSON.stringify(s.data)}, ${JSON.stringify(join(s.src.mountPoint, 'data-link'))}]`,
      }),
    }),
    says: /\/data and .*\/data-link are the same subvolume[^]*fix: list it once/,
  },
  // layers, hosts, device-mapper and volume group names
  {
    name: 'an unknown layer',
    files: () => ({ 'config.toml': toml({ target: 'layers = ["raid", "zfs"]' }) }),
    says: /target\.layers\[1\] = "zfs" is not allowed; expected one of "raid", "luks", "lvm"/,
  },
  {
    name: 'layers in the wrong order',
    files: () => ({ 'config.toml': toml({ target: 'layers = ["lvm", "luks"]' }) }),
    says: /target\.layers: \["lvm", "luks"\]: each layer at most once, bottom-up in the order raid, luks, lvm/,
  },
  {
    name: 'a layer twice',
    files: () => ({ 'config.toml': toml({ target: 'layers = ["luks", "luks"]' }) }),
    says: /target\.layers: \["luks", "luks"\]: each layer at most once/,
  },
  {
    name: 'a layer in capitals',
    files: () => ({ 'config.toml': toml({ target: 'layers = ["RAID"]' }) }),
    says: /target\.layers\[0\] = "RAID" is not allowed/,
  },
  {
    name: 'a host name with a space',
    files: () => ({ 'config.toml': toml().replace('host = "testhost"', 'host = "my host"') }),
    says: /host = "my host" is not a host name/,
  },
  {
    name: 'a host name starting with "-"',
    files: () => ({ 'config.toml': toml().replace('host = "testhost"', 'host = "-h"') }),
    says: /host = "-h" is not a host name/,
  },
  {
    name: 'a host name of 64 characters',
    files: () => ({ 'config.toml': toml().replace('host = "testhost"', `host = "${'h'.repeat(64)}"`) }),
    says: /host = "h+" is too long/,
  },
  {
    name: 'a host name LVM keeps',
    files: () => ({
      'config.toml': toml({ target: 'layers = ["lvm"]' }).replace('host = "testhost"', 'host = "db_tmeta"'),
    }),
    says: /host: "db_tmeta" names this host's logical volume, and LVM keeps that name/,
  },
  {
    name: 'a LUKS name with "/"',
    files: () => ({ 'config.toml': toml({ target: 'luks_name = "enc/backup"' }) }),
    says: /target\.luks_name = "enc\/backup" is not a device-mapper name/,
  },
  {
    name: 'the LUKS name "control"',
    files: () => ({ 'config.toml': toml({ target: 'luks_name = "control"' }) }),
    says: /target\.luks_name = "control" is the name of device-mapper's own device/,
  },
  {
    name: 'an empty LUKS name',
    files: () => ({ 'config.toml': toml({ target: 'luks_name = ""' }) }),
    says: /target\.luks_name = "" is empty/,
  },
  {
    name: 'a volume group starting with "-"',
    files: () => ({ 'config.toml': toml({ target: 'volume_group = "-vg"' }) }),
    says: /target\.volume_group = "-vg" starts with "-"/,
  },
  {
    name: 'a volume group named like a /dev folder',
    files: () => ({ 'config.toml': toml({ target: 'volume_group = "mapper"' }) }),
    says: /target\.volume_group = "mapper" is the name of a folder of \/dev/,
  },
  {
    name: 'a volume group with a space',
    files: () => ({ 'config.toml': toml({ target: 'volume_group = "my vg"' }) }),
    says: /target\.volume_group = "my vg" is not an LVM volume group name/,
  },
  // the file itself: missing table, syntax, presence, kind, permissions
  {
    name: 'no [target] table',
    files: () => ({ 'config.toml': toml({ noTarget: true }) }),
    says: /there is no \[target\] table[^]*fix: .*\n\s+\[target\]\n\s+mountpoint = "\/media\/backup"/,
  },
  {
    name: 'a TOML syntax error',
    files: () => ({ 'config.toml': toml({ sources: `sources = [${JSON.stringify(s.data)}` }) }),
    says: /config\.toml:\d+:\d+: TOML syntax error/,
  },
  {
    name: 'a key twice',
    files: () => ({ 'config.toml': toml({ top: 'host = "again"' }) }),
    says: /config\.toml:\d+:\d+: TOML syntax error/,
  },
  {
    name: 'binary garbage',
    files: () => ({ 'config.toml': Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x01]) }),
    says: /config\.toml:\d+:\d+: TOML syntax error/,
  },
  {
    name: 'no config file',
    files: () => ({}),
    says: /config file .*config\.toml does not exist[^]*fix: create it \(see README, "Configuration"/,
  },
  {
    name: '--config pointing at a folder',
    args: (dir) => ['backup', '--config', dir],
    says: /config file .* is a folder\nfix: point --config at the file in it/,
  },
  { name: '--config empty', args: () => ['backup', '--config', ''], says: /config file .* is a folder/ },
  {
    name: '--config through a file',
    args: (dir) => ['backup', '--config', join(config(dir), 'config.toml')],
    says: /cannot exist: a part of its path is a file/,
  },
  {
    name: 'the config is a FIFO',
    files: () => ({}),
    prepare: (dir) => execFileSync('mkfifo', [config(dir)]),
    says: /config file .*config\.toml is not a regular file/,
  },
  {
    name: 'the config is a symlink loop',
    files: () => ({}),
    prepare: (dir) => symlinkSync(config(dir), config(dir)),
    says: /cannot read config file .*ELOOP/,
  },
  {
    name: 'a config root may not read (run as another user)',
    prepare: (dir) => chmodSync(dir, 0o755),
    args: (dir) => ['--as-nobody', 'list', '--config', config(dir)],
    says: /cannot read config file .*config\.toml: EACCES[^]*fix: run btrfs-vault as root/,
  },
  {
    name: 'a world-writable config',
    prepare: (dir) => chmodSync(config(dir), 0o666),
    says: /config file .*config\.toml can be changed by others than root \(owner uid 0, mode 0666\)[^]*\nfix: run: chmod go-w /,
  },
  {
    name: 'a config owned by another user',
    prepare: (dir) => chownSync(config(dir), 1000, 1000),
    says: /config file .* can be changed by others than root \(owner uid 1000[^]*fix: run: chown root:root /,
  },
  {
    name: 'a group-writable config folder',
    prepare: (dir) => chmodSync(dir, 0o770),
    says: /config folder .* can be changed by others than root \(owner uid 0, mode 0770\)[^]*\nfix: run: chmod go-w /,
  },
  {
    name: 'a world-writable sticky config folder',
    prepare: (dir) => chmodSync(dir, 0o1777),
    says: /config folder .* \(owner uid 0, mode 1777\)/,
  },
  {
    name: 'a symlinked config folder that is world-writable',
    prepare: (dir) => {
      chmodSync(dir, 0o777);
      symlinkSync(dir, `${dir}-link`);
    },
    args: (dir) => ['backup', '--config', join(`${dir}-link`, 'config.toml')],
    says: /config folder .* can be changed by others than root \(owner uid 0, mode 0777\)/,
  },
  {
    name: 'a symlinked config file in a world-writable folder',
    prepare: (dir) => {
      const open = mkdtempSync(join(s.dir, 'open-'));
      chmodSync(open, 0o777);
      writeFileSync(join(open, 'config.toml'), toml(), { mode: 0o600 });
      execFileSync('ln', ['-sf', join(open, 'config.toml'), config(dir)]);
    },
    says: /config folder .*open-\w+ can be changed by others than root/,
  },
  // the sources file
  {
    name: 'sources file: a relative path',
    files: () => ({ 'config.toml': toml(), sources: '# mine\r\nhome/alice\r\n' }),
    says: /sources:2: source "home\/alice" is not an absolute path\n\s+fix: write it from \/, e.g. \/home\/alice/,
  },
  {
    name: 'sources file: a path twice',
    files: () => ({ 'config.toml': toml({ sources: '' }), sources: `${s.data}\n${s.data}/\n` }),
    says: /sources:2: source .*\/data is listed twice \(also at .*sources:1\)/,
  },
  {
    name: 'sources file: a name clash with the config',
    files: () => ({ 'config.toml': toml({ sources: 'sources = ["/x-y"]' }), sources: '/x/y\n' }),
    says: /sources:1: sources \/x-y and \/x\/y would both be stored as "x-y"/,
  },
  {
    name: 'sources file: a lone carriage return inside a path',
    files: () => ({ 'config.toml': toml(), sources: '/srv/a\rb\n' }),
    says: /sources:1: source "\/srv\/a\\rb" contains a line break/,
  },
  {
    name: 'sources file: a folder',
    files: () => ({ 'config.toml': toml() }),
    prepare: (dir) => mkdirSync(join(dir, 'sources')),
    says: /sources file .*sources is a folder/,
  },
  {
    name: 'sources file: world-writable',
    files: () => ({ 'config.toml': toml(), sources: `${s.data}\n` }),
    prepare: (dir) => chmodSync(join(dir, 'sources'), 0o646),
    says: /sources file .*sources can be changed by others than root \(owner uid 0, mode 0646\)/,
  },
  {
    name: 'sources file: -S with only comments',
    files: () => ({ 'config.toml': toml(), sources: '# /srv\n   # /home\n' }),
    args: (dir) => ['backup', '-S', '--config', config(dir)],
    says: /-S: there is no sources file with paths in it/,
  },
  {
    name: 'sources file: a # inside a path is part of it',
    files: () => ({ 'config.toml': toml({ sources: '' }), sources: `${s.src.mountPoint}/#tmp\n` }),
    says: /source .*\/#tmp does not exist/,
  },
];

const commandLineCases: Case[] = [
  {
    name: 'a path that does not exist',
    args: (dir) => ['backup', '--config', config(dir), join(s.src.mountPoint, 'missing')],
    says: /source .*\/missing does not exist/,
  },
  {
    name: 'a path that is not a subvolume',
    args: (dir) => ['backup', '--config', config(dir), join(s.src.mountPoint, 'plainfolder')],
    says: /plainfolder is a folder, not a btrfs subvolume/,
  },
  {
    name: 'a path that is not on btrfs',
    args: (dir) => ['backup', '--config', config(dir), dir],
    says: /is on a \w+ filesystem, not btrfs/,
  },
  {
    name: 'a path on the backup filesystem',
    args: (dir) => ['backup', '--config', config(dir), s.dst.mountPoint],
    says: /is not on the same btrfs filesystem as|same filesystem/,
  },
  {
    name: 'two paths with one folder name',
    args: (dir) => ['backup', '--config', config(dir), '/x-y', '/x/y'],
    says: /\/x-y and \/x\/y would both be stored as "x-y"[^]*fix: .*name = "\.\.\."/,
  },
  {
    name: 'a path named like a configured source',
    args: (dir) => ['backup', '--config', config(dir), `/${sourceName(s.data)}`],
    says: /would be stored as ".*", the folder of the configured source .*\/data[^]*fix: add it to .*name = "\.\.\."/,
  },
  {
    name: 'one subvolume twice (through a symlink)',
    args: (dir) => ['backup', '--config', config(dir), s.data, join(s.src.mountPoint, 'data-link')],
    says: /\/data and .*\/data-link are the same subvolume/,
  },
  {
    name: 'a path with a line break',
    args: (dir) => ['backup', '--config', config(dir), '/srv/a\nb'],
    says: /the path "\/srv\/a\\nb" contains a line break/,
  },
  {
    name: 'a path whose name is over 255 bytes',
    args: (dir) => ['backup', '--config', config(dir), `/${'d'.repeat(200)}/${'e'.repeat(60)}`],
    says: /its folder name .* is 261 bytes long/,
  },
  {
    name: '-S and paths together',
    args: (dir) => ['backup', '-S', '--config', config(dir), s.data],
    says: /-S backs up the paths of the sources file, and paths were given too/,
  },
  {
    name: 'an unknown command',
    args: (dir) => ['--config', config(dir), 'bakup'],
    says: /error: unknown command 'bakup'\n\(Did you mean backup\?\)/,
    fix: USAGE,
  },
  {
    name: 'an unknown option',
    args: (dir) => ['backup', '--config', config(dir), '--frobnicate'],
    says: /error: unknown option '--frobnicate'/,
    fix: USAGE,
  },
  {
    name: 'an option of another command',
    args: (dir) => ['list', '--config', config(dir), '--dry-run'],
    says: /error: unknown option '--dry-run'/,
    fix: USAGE,
  },
  {
    name: 'a missing option value',
    args: () => ['backup', '--config'],
    says: /error: option '--config <file>' argument missing/,
    fix: USAGE,
  },
  {
    name: 'a missing --answers value',
    args: () => ['setup', '--dry-run', '--answers'],
    says: /error: option '--answers <file>' argument missing/,
    fix: USAGE,
  },
  {
    // list takes sources (issue 24): named as restore and files name them
    name: 'list names a source that is neither configured nor a backup folder name',
    args: (dir) => ['list', '--config', config(dir), '.token'],
    says: /\.token is not a configured source of .*, and "\.token" starts with "\."/,
    fix: /name a source or a backup folder on the disk \(btrfs-vault list shows them\)/,
  },
  {
    name: 'add-mirror without a raid layer',
    args: (dir) => ['add-mirror', '--config', config(dir), '--disk', '/dev/bv-no-such-disk', '--dry-run'],
    says: /has no raid layer, so there is no mirror to add to/,
  },
  {
    name: 'setup answers with an unknown key',
    files: () => ({
      'answers.toml': 'disk = "/dev/bv-no-such-disk"\nconfirm = "x"\npassphrase_file = "/nonexistent"\nwipe = true\n',
    }),
    args: (dir) => ['setup', '--dry-run', '--answers', join(dir, 'answers.toml'), '--config', config(dir)],
    says: /answers\.toml: unknown key wipe\n\s+fix: .*did you mean wipe_existing\?.*the keys here are disk, confirm, server, passphrase_file, layers, size, wipe_existing/,
  },
  {
    name: 'setup answers with a wrong type',
    files: () => ({
      'answers.toml':
        'disk = "/dev/bv-no-such-disk"\nconfirm = "x"\npassphrase_file = "/nonexistent"\nwipe_existing = "yes"\n',
    }),
    args: (dir) => ['setup', '--dry-run', '--answers', join(dir, 'answers.toml'), '--config', config(dir)],
    says: /wipe_existing = "yes" is a string; expected a boolean[^]*fix: write it like this: wipe_existing = false/,
  },
];

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

for (const c of [...configCases, ...commandLineCases]) {
  test(`bad input: ${c.name}`, () => {
    let ok = false;
    try {
      const dir = caseDir(c.files?.() ?? { 'config.toml': toml() });
      c.prepare?.(dir);
      let args = c.args?.(dir) ?? ['backup', '--config', config(dir)];
      const asNobody = args[0] === '--as-nobody';
      if (asNobody) args = args.slice(1);
      const r = asNobody ? runAs(NOBODY, args) : s.cli(args);
      const out = r.stderr + r.stdout;
      assert.equal(r.code, 2, `exit 2 (bad input), got ${r.code}:\n${out}`);
      assert.match(out, c.says);
      assert.match(out, c.fix ?? FIX, `names the fix:\n${out}`);
      assert.doesNotMatch(out, /btrfs-vault: internal error|Invalid input/);
      assert.equal(state(), written, 'nothing written to the source or the backup filesystem');
      assert.deepEqual(
        readdirSync(join(s.dst.mountPoint)).sort(),
        ['.token', sourceName(s.data)],
        'no file created on the target',
      );
      ok = true;
    } finally {
      results.push({ name: c.name, ok });
    }
  });
}

test('the corpus is large enough', () => {
  assert.ok(results.length >= 40, `${results.length} bad inputs`);
});

// Not bad input, but on the same disks (last: it writes):
// the subvolume of a configured source, however it is written, continues that chain.
test('the same subvolume by another path is the configured source: one folder, one chain, incremental', () => {
  const name = sourceName(s.data);
  writeFileSync(join(s.data, 'more'), 'x');
  const viaLink = s.cli([
    'backup',
    '--json',
    '--config',
    config(caseDir({ 'config.toml': toml() })),
    join(s.src.mountPoint, 'data-link'),
  ]);
  assert.equal(viaLink.code, 0, viaLink.stderr);
  const first = JSON.parse(viaLink.stdout).sources[0];
  assert.deepEqual([first.name, first.mode], [name, 'incremental']);
  writeFileSync(join(s.data, 'more'), 'y');
  const odd = s.data.replace(/\/data$/, '//./x/../data/');
  const written = s.cli([
    'backup',
    '--json',
    '--config',
    config(caseDir({ 'config.toml': toml({ sources: `sources = [${JSON.stringify(odd)}]` }) })),
  ]);
  assert.equal(written.code, 0, written.stderr);
  const second = JSON.parse(written.stdout).sources[0];
  assert.deepEqual([second.name, second.mode, second.parent], [name, 'incremental', first.snapshot]);
  assert.deepEqual(readdirSync(s.dst.mountPoint).sort(), ['.token', name], 'no second folder on the target');
  assert.deepEqual(readdirSync(join(s.src.mountPoint, 'snapshots')), [name], 'no second snapshot folder');
});

function runAs(prefix: string[], args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(
      prefix[0]!,
      [...prefix.slice(1), 'node', join(process.cwd(), 'bin', 'btrfs-vault.js'), ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}
