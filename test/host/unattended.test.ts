import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, withScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { hostRecordFile } from '../../src/system/host-record.js';
import { unitNames } from '../../src/flows/schedule/schedule.js';
import { sh } from '../support/sh.js';

// Unattended operation on the host: the units schedule writes (checked by systemd
// itself), a timer run without the disk, notifications, doctor.
before(() => requireRoot());

test(
  'schedule install writes a timer, a service and the on-plug rule that systemd-analyze accepts; shown first, --dry-run writes nothing; remove takes them away',
  withScenario((s) => {
    const root = join(s.dir, 'root');
    const dry = s.cli([
      'schedule',
      'install',
      '--root',
      root,
      '--every',
      'daily',
      '--on-plug',
      '--dry-run',
      '--config',
      s.config,
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /OnCalendar=daily[\s\S]*Persistent=true/);
    assert.ok(!existsSync(root), 'a dry-run writes nothing');

    const r = s.cli(['schedule', 'install', '--root', root, '--every', 'daily', '--on-plug', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const n = unitNames(s.config);
    const unit = (f: string) => join(root, 'etc/systemd/system', f);
    const service = readFileSync(unit(n.service), 'utf8');
    assert.match(
      service,
      new RegExp(`ExecStart=${process.execPath} \\S+btrfs-vault\\.c?js backup --scheduled --config ${s.config}`),
    );
    assert.match(service, /IOSchedulingClass=idle/);
    assert.match(readFileSync(unit(n.timer), 'utf8'), /OnCalendar=daily\nPersistent=true/);
    const uuid = sh('findmnt', ['-no', 'UUID', '--target', s.dst.mountPoint]).trim();
    const rule = readFileSync(join(root, 'etc/udev/rules.d', n.rule), 'utf8');
    assert.match(
      rule,
      new RegExp(`ENV\\{ID_FS_UUID\\}=="${uuid}", TAG\\+="systemd", ENV\\{SYSTEMD_WANTS\\}\\+="${n.plugService}"`),
    );
    assert.equal(
      readlinkSync(join(root, 'etc/systemd/system/timers.target.wants', n.timer)),
      `/etc/systemd/system/${n.timer}`,
      'the timer is enabled',
    );
    const verify = spawnSync('systemd-analyze', ['verify', unit(n.service), unit(n.timer), unit(n.plugService)], {
      encoding: 'utf8',
    });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'no complaint at all');

    const bad = s.cli(['schedule', 'install', '--root', root, '--every', 'every full moon', '--config', s.config]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a calendar expression/);

    const gone = s.cli(['schedule', 'remove', '--root', root, '--config', s.config]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.deepEqual(
      readdirSync(join(root, 'etc/systemd/system')).filter((f) => f.startsWith('btrfs-vault')),
      [],
    );
  }),
);

test(
  'a timer run without the disk is a soft skip (exit 0, one line); by hand it is an error; failures and stale backups are told, once a day',
  withScenario(async (s) => {
    const told = join(s.dir, 'told');
    const hook = join(s.configDir, 'tell.sh');
    writeFileSync(hook, `#!/bin/sh\n{ echo "$BTRFS_VAULT_EVENT $BTRFS_VAULT_EXIT_CODE"; cat; echo; } >> ${told}\n`, {
      mode: 0o700,
    });
    const posts: { url: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posts.push({ url: req.url ?? '', body });
        res.end('OK');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      writeFileSync(join(s.data, 'f'), 'x');
      writeFileSync(
        s.config,
        `${readFileSync(s.config, 'utf8')}\n[notify]\ncommand = ["${hook}"]\nurl = "http://127.0.0.1:${port}/ping/abc"\non = ["failure", "stale"]\n`,
      );
      // a success is not told by default
      const ok = await cliAsync(s, ['--config', s.config]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(!existsSync(told) && posts.length === 0, 'nothing to tell');

      // a refused disk is a failure: told with the report
      writeFileSync(join(s.dst.mountPoint, '.token'), 'foreign');
      assert.equal((await cliAsync(s, ['--config', s.config])).code, 3);
      assert.match(readFileSync(told, 'utf8'), /^failure 3\n\{"event":"failure",.*"exitCode":3/m);
      assert.equal(posts.at(-1)?.url, '/ping/abc/fail');
      assert.equal(JSON.parse(posts.at(-1)!.body).event, 'failure');

      // the disk away: a timer run does nothing and is no failure; by hand it is
      sh('umount', [s.dst.mountPoint]);
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = "${join(s.dir, 'no-such-disk')}"\n`),
      );
      const record = JSON.parse(readFileSync(hostRecordFile(s.config), 'utf8'));
      for (const r of Object.values<{ lastSuccess: string }>(record.sources))
        r.lastSuccess = new Date(Date.now() - 9 * 86_400_000).toISOString();
      writeFileSync(hostRecordFile(s.config), JSON.stringify(record));
      const skip = await cliAsync(s, ['backup', '--scheduled', '--config', s.config]);
      assert.equal(skip.code, 0, skip.stderr);
      assert.match(skip.stderr, /not attached: nothing to do now/);
      assert.equal(posts.at(-1)?.url, '/ping/abc/fail');
      assert.equal(JSON.parse(posts.at(-1)!.body).event, 'stale');
      const count = posts.length;
      assert.equal((await cliAsync(s, ['backup', '--scheduled', '--config', s.config])).code, 0);
      assert.equal(posts.length, count, 'stale backups are told once a day, not every hour');
      // the wait for the device node shortened (10 s in a release): what is tried is the error
      assert.equal(
        (await cliAsync(s, ['backup', '--config', s.config], { BTRFS_VAULT_TEST_DEVICE_WAIT_MS: '500' })).code,
        3,
        'by hand, the missing disk is an error',
      );
    } finally {
      server.close();
      if (!readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${s.dst.mountPoint} `))
        sh('mount', [s.dst.device, s.dst.mountPoint]);
    }
  }),
);

test(
  'doctor: every check with its fix; warnings exit 1, a broken config exits 2',
  withScenario((s) => {
    const r = s.cli(['doctor', '--json', '--config', s.config]);
    const out = json(r);
    assert.equal(r.code, 1, r.stdout);
    const names = out.checks.map((c: { name: string }) => c.name);
    for (const n of ['btrfs', 'setpriv', 'perl', 'root', 'config', 'token hash', 'timer', 'retention-disabled'])
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    assert.ok(
      out.checks
        .filter((c: { level: string }) => c.level !== 'ok')
        .every(
          (c: { fix?: string; level: string; name: string }) =>
            c.fix || c.name === 'retention-disabled' || c.name === 'no-backup',
        ),
    );
    writeFileSync(s.config, 'this is not toml = = =\n');
    const broken = s.cli(['doctor', '--config', s.config]);
    assert.equal(broken.code, 2);
    assert.match(broken.stdout, /✖ config .*TOML syntax error/);
  }),
);

/** The CLI without blocking this process (the notification server runs here). */
function cliAsync(
  s: Scenario,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const child = s.spawnCli(args, env);
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
