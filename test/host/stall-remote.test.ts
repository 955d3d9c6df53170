import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../support/cli.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { makeSshd, type Sshd, targetAddArgs, authorizePrinted } from '../support/sshd.js';
import { alive, parentOf, pidsWhere, runToEnd, sleep } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { loadConfig } from '../../src/config/load.js';
import { sshExit } from '../../src/flows/remote/ssh.js';
import { sourceName } from '../../src/core/naming.js';

// A backup server that stops moving bytes: its `serve` stopped with SIGSTOP (as a hung
// process there holds it) while a backup streams to it, and while a restore streams
// from it. ServerAlive sees a live TCP path, so only the stall limit ends the run:
// stall_timeout is 2s here. One scenario for the file; the cases run in order.

const SERVE = `${process.execPath} ${BIN}`;

let s: Scenario;
let srv: LoopFs;
let sshd: Sshd;
let serveRoot = '';
const hostRoot = () => join(serveRoot, 'testhost');
const onServer = () =>
  readdirSync(join(hostRoot(), sourceName(s.data)))
    .filter((n) => n !== 'latest' && !n.startsWith('.'))
    .sort();
const incoming = () => {
  const d = join(hostRoot(), '.incoming');
  return existsSync(d) ? readdirSync(d) : [];
};
const run = (args: string[]) => runToEnd(s.spawnCli([...args, '--config', s.config]));
const fill = (dir: string, mib: number) =>
  execFileSync('dd', ['if=/dev/urandom', `of=${join(dir, `f${Date.now()}`)}`, 'bs=1M', `count=${mib}`, 'status=none']);
/** a btrfs-progs process of the server, by its verb, on a path under the serve root */
const serverBtrfs = (verb: 'receive' | 'send') => () =>
  pidsWhere((argv) => argv[0] === 'btrfs' && argv[1] === verb && argv.some((a) => a.startsWith(serveRoot)))[0];
type Source = { status: string; mode?: string; parent?: string; error?: string; fix?: string };
type Target = { name: string; ok: boolean; sources: Source[] };
const offsite = (stdout: string) =>
  (JSON.parse(stdout) as { targets: Target[] }).targets.find((t) => t.name === 'offsite')!;

/** stopped server processes are let go again (they find their client gone, and clean up) */
async function resume(pids: number[]): Promise<void> {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGCONT');
  await waitFor(() => pids.every((p) => !alive(p)), 20_000);
}

before(async () => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256, extraToml: '[backup]\nstall_timeout = "2s"\n' });
  srv = makeLoopBtrfs(s.dir, 'srv', 256);
  serveRoot = join(srv.mountPoint, 'serve');
  const init = s.cli(['serve', '--init', serveRoot]);
  assert.equal(init.code, 0, init.stderr);
  mkdirSync(hostRoot(), { mode: 0o700 });
  sshd = await makeSshd(join(s.dir, 'sshd'));
  await sshd.start();
  const add = await run(targetAddArgs(sshd, 'offsite', serveRoot));
  assert.equal(add.code, 0, add.stderr);
  authorizePrinted(sshd, add.stdout, SERVE);
  writeFileSync(join(s.data, 'a'), 'a');
  const first = await run(['backup', '--json']);
  assert.equal(first.code, 0, first.stderr + first.stdout);
});

after(async () => {
  if (s) spawnSync(...sshExit((await loadConfig(s.config)).remotes![0]!));
  await sshd?.stop();
  srv?.dispose();
  s?.dispose();
});

/**
 * Once the run's stream runs, stops the server's serve (and a `btrfs send`, which writes
 * straight to the channel: it is what moves a restore's stream); the run must end soon
 * after, failed.
 */
async function stopOnServer(t: TestContext, child: ChildProcess, program: 'send' | 'receive') {
  const out = runToEnd(child);
  const btrfs = await waitFor(serverBtrfs(program), 60_000);
  const serve = parentOf(btrfs)!;
  if (program === 'send') process.kill(btrfs, 'SIGSTOP');
  process.kill(serve, 'SIGSTOP');
  const stopped = Date.now();
  const r = await out;
  const took = Date.now() - stopped;
  t.diagnostic(`the run ended ${took} ms after the stream was stopped (stall_timeout 2s)`);
  // the limit counts from the last byte moved, which may come a little before the stop
  assert.ok(took < 20_000, `ended ${took} ms after the stop`);
  assert.notEqual(r.code, 0, r.stdout);
  return { r, btrfs, serve };
}

test("[remote input] the server's serve SIGSTOPped mid-receive: the server's target fails within stall_timeout naming the stall; nothing half-received there, its latest unchanged; the next run is incremental", async (t) => {
  const [before] = onServer();
  const latest = readlinkSync(join(hostRoot(), sourceName(s.data), 'latest'));
  // more than ssh's window and the socket buffers hold: the sender must wait for the server
  fill(s.data, 64);
  const child = s.spawnCli(['backup', '--json', '--config', s.config]);
  const { r, btrfs: receive, serve } = await stopOnServer(t, child, 'receive');
  const server = offsite(r.stdout);
  assert.equal(server.ok, false);
  assert.match(
    server.sources[0]!.error!,
    /no data moved for 2s between `btrfs send .*` and `ssh .*receive.*`; both were ended/,
  );
  assert.match(server.sources[0]!.fix!, /backup server.*stall_timeout in \[backup\]/);
  // the disk of the same run was not held up by the server
  assert.equal((JSON.parse(r.stdout) as { targets: Target[] }).targets.find((x) => x.name === 'backup')!.ok, true);
  await resume([serve, receive]);
  assert.deepEqual(onServer(), [before]);
  assert.equal(readlinkSync(join(hostRoot(), sourceName(s.data), 'latest')), latest);
  assert.deepEqual(incoming(), [], 'the stopped receive cleaned its staging once let go');
  const next = await run(['backup', '--json']);
  assert.equal(next.code, 0, next.stderr + next.stdout);
  const n = offsite(next.stdout).sources[0]!;
  assert.equal(n.mode, 'incremental');
  assert.equal(onServer().length, 2);
});

test('[remote input] restore from a server whose send stops (serve and its btrfs send SIGSTOPped): fails within stall_timeout, nothing restored, no staging left here', async (t) => {
  const to = join(s.src.mountPoint, 'restored');
  mkdirSync(to);
  const child = s.spawnCli(['restore', s.data, '--target', 'offsite', '--to', to, '--json', '--config', s.config]);
  const { r, btrfs: send, serve } = await stopOnServer(t, child, 'send');
  const report = JSON.parse(r.stdout) as { ok: boolean; error: string; fix: string };
  assert.equal(report.ok, false);
  assert.match(report.error, /no data moved for 2s between `ssh .*send.*` and `btrfs receive .*`; both were ended/);
  assert.deepEqual(readdirSync(to), [], 'nothing restored, no staging folder left');
  await resume([send, serve]);
  await sleep(0);
  assert.equal(readFileSync(join(s.data, 'a'), 'utf8'), 'a');
});

test('[remote input] restore --path from a server whose send stops: fails within stall_timeout, the staging subvolume deleted, nothing copied', async (t) => {
  const to = join(s.src.mountPoint, 'restored-path');
  const home = join(s.src.mountPoint, 'snapshots');
  const child = s.spawnCli([
    'restore',
    s.data,
    '--path',
    'a',
    '--target',
    'offsite',
    '--to',
    to,
    '--json',
    '--config',
    s.config,
  ]);
  const { r, btrfs: send, serve } = await stopOnServer(t, child, 'send');
  assert.match((JSON.parse(r.stdout) as { error: string }).error, /no data moved for 2s between `ssh .*send/);
  assert.equal(existsSync(to), false, 'nothing copied');
  assert.deepEqual(
    readdirSync(home).filter((n) => n.startsWith('.btrfs-vault-path-restore')),
    [],
    'the staging subvolume was deleted',
  );
  await resume([send, serve]);
});
