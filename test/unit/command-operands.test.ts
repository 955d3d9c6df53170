import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Argv } from '../../src/system/runner.js';
import { btrfs } from '../../src/btrfs/commands.js';
import { subvolumeInfoArgv } from '../../src/btrfs/subvolume-info.js';
import { holdArgv } from '../../src/system/lock.js';
import { raidCommands } from '../../src/stack/raid.js';
import { luksCommands } from '../../src/stack/luks.js';
import { lvmCommands } from '../../src/stack/lvm.js';
import { partitionCommands } from '../../src/stack/partition.js';
import { mountCommands } from '../../src/stack/filesystem.js';
import { wipeCommands } from '../../src/flows/setup/setup-plan.js';
import { copyBackCommands } from '../../src/flows/restore/copy-back.js';
import { verifyCommands } from '../../src/flows/inspect/verify.js';

// Every path or name we hand a program must never be read as one of its options
// (`--to=--help` once reached cp as `--help`). Each builder is called with option-like
// values; each operand must come after a `--` the program honours, be the value of an
// option, or start with something that is no option (`./-x`, `of=-x`, `--name=-x`).

/** programs that do not take `--` as the end of options (checked by hand: mdadm, fuser, findfs) */
const NO_DOUBLE_DASH = new Set(['mdadm', 'fuser', 'findfs']);
/** options that take the next argument as their value, whatever it looks like (getopt, popt) */
const VALUE_OPTIONS: Record<string, string[]> = {
  btrfs: ['-p'],
  cryptsetup: ['--key-file', '--type', '--pbkdf', '--pbkdf-force-iterations', '--pbkdf-memory'],
  lvcreate: ['-n', '-L', '-l', '-W'],
  'mkfs.btrfs': ['-L'],
  mount: ['-t', '-o'],
  perl: ['-e'],
};

const sentinel = (i: number) => (i % 2 === 0 ? `--help${i}` : `-x${i}`);
const isSentinelIn = (arg: string) => /(--help|-x)\d/.test(arg);

function problems(argv: Argv): string[] {
  const [file, args] = argv;
  const end = NO_DOUBLE_DASH.has(file) ? -1 : args.indexOf('--');
  const out: string[] = [];
  args.forEach((a, k) => {
    if (!isSentinelIn(a)) return;
    if (end !== -1 && k > end) return; // after the end of options
    if (!a.startsWith('-')) return; // ./-x, of=-x, vg/-x: no option
    if (/^--?[a-z][a-z0-9-]*=/.test(a) && !isSentinelIn(a.slice(0, a.indexOf('=')))) return; // --name=-x: a value
    if (k > 0 && VALUE_OPTIONS[file]?.includes(args[k - 1]!)) return; // -p -x: a value
    out.push(`${file} ${args.join(' ')}: "${a}" could be read as an option`);
  });
  return out;
}

/** each builder of an object called with option-like values for all its (string) parameters */
function walk(name: string, builders: Record<string, (...a: never[]) => unknown>): [string, Argv][] {
  return Object.entries(builders).map(([key, fn]) => {
    const args = Array.from({ length: fn.length }, (_, i) => sentinel(i));
    return [`${name}.${key}`, (fn as (...a: string[]) => Argv)(...args)];
  });
}

test('[paths we are given] every command we build keeps option-like paths and names out of the options', () => {
  const s = sentinel;
  const built: [string, Argv][] = [
    ...walk('btrfs', {
      ...btrfs,
      waitDeleted: () => btrfs.waitDeleted(s(0), [256, 257]),
      deleteMany: () => btrfs.deleteMany([s(0), s(1)]),
    }),
    ['btrfs.send (parent, compressed)', btrfs.send(s(0), s(1), true)],
    ...walk('mount', mountCommands),
    ...walk('lvm', lvmCommands),
    ['lvm.lvcreate (size)', lvmCommands.lvcreate(s(0), s(1), '10G')],
    ...walk('luks', luksCommands),
    ['luks.format (pbkdf)', luksCommands.format(s(0), { pbkdf: 'pbkdf2', iterations: 1000, memoryKiB: 1024 })],
    ['luks.addKeyfile (pbkdf)', luksCommands.addKeyfile(s(0), s(1), { pbkdf: 'pbkdf2', iterations: 1000 })],
    ...walk('raid', { ...raidCommands, create: () => raidCommands.create({ array: s(0), partition: s(1) }) }),
    ...walk('partition', partitionCommands),
    ['partition.create (label, type)', partitionCommands.create(s(0), s(1), s(2))],
    ...wipeCommands({ disk: s(0), wipe: [s(0), s(1)], diskBytes: 2 ** 34 }).map((c, i): [string, Argv] => [
      `wipe ${i}`,
      c.argv,
    ]),
    ['subvolumeInfo', subvolumeInfoArgv([s(0), s(1)])],
    ['hold', holdArgv([s(0), s(1)])],
    ...walk('copyBack', copyBackCommands),
    ...walk('verify', { ...verifyCommands, compare: () => verifyCommands.compare(s(0), s(1), true, true) }),
  ];
  assert.ok(built.length > 60, `walked ${built.length} commands`);
  const bad = built.flatMap(([name, argv]) => problems(argv).map((p) => `${name}: ${p}`));
  assert.deepEqual(bad, []);
});

test('the check itself: a bare option-like path is caught, one after `--` or behind ./ is not; mdadm has no `--`', () => {
  assert.equal(problems(['cp', ['-a', '--help0', '-x1']]).length, 2);
  assert.deepEqual(problems(['cp', ['-a', '--', '--help0', '-x1']]), []);
  assert.equal(problems(['mdadm', ['--examine', '--', '-x1']]).length, 1);
  assert.deepEqual(problems(['mdadm', ['--examine', './-x1']]), []);
  assert.deepEqual(problems(['btrfs', ['send', '-p', '-x1', '--', '--help0']]), []);
  assert.equal(problems(['btrfs', ['send', '-q', '-x1', '--', '--help0']]).length, 1);
});
