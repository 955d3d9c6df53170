import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Qmp } from './qmp.js';

// Boots a throw-away qemu VM (Debian's kernel, TCG) whose root is this machine's root
// over 9p, read-only, with a RAM overlay; runs one guest script of the project and
// brings back its result through a second, writable 9p share. The VM sees only the
// sparse image files given here, as virtio disks with serials "bv-...": the machine's
// own disks are never handed to it.

const GUEST_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'netfs',
  'fscache',
  '9pnet',
  '9pnet_virtio',
  '9p',
  'overlay',
];

export interface VmDisk {
  /** serial the guest sees (/sys/block/vdX/serial); must start with "bv-" */
  serial: string;
  /** a sparse image file created by the test */
  file: string;
}

export interface VmRun {
  exitCode: number | undefined;
  console: string;
  guestLog: string;
  result: unknown;
  seconds: number;
  /** the guest's requests to the host (see hostRequest in guest/support.ts), as handled */
  requests: string[];
  /** set when the guest asked for a power cut: qemu was killed with SIGKILL */
  powerCut?: string;
}

/**
 * What the host does for the guest on request, through qemu's machine protocol: pull
 * a disk out and put it back (PCI hot-unplug), slow a disk down, cut the power.
 */
interface HostActions {
  unplug(serial: string): Promise<void>;
  plug(serial: string): Promise<void>;
  throttleRead(serial: string, bytesPerSecond: number): Promise<void>;
  powerCut(reason: string): void;
}

export function kernelVersion(): string {
  const versions = readdirSync('/lib/modules').filter(
    (v) => existsSync(`/boot/vmlinuz-${v}`) && existsSync(`/lib/modules/${v}/kernel/fs/9p`),
  );
  if (versions.length === 0)
    throw new Error('the VM tier needs a Debian kernel for the guest: apt-get install linux-image-amd64');
  return versions.sort().at(-1)!;
}

export function makeDisk(dir: string, serial: string, sizeMiB = 1024): VmDisk {
  if (!/^bv-[a-z0-9-]+$/.test(serial)) throw new Error(`VM disk serial must be bv-...: ${serial}`);
  const file = join(dir, `${serial}.img`);
  execFileSync('truncate', ['-s', `${sizeMiB}M`, file]);
  return { serial, file };
}

function assertImageFile(disk: VmDisk, dir: string): void {
  const st = lstatSync(disk.file);
  if (!st.isFile() || !resolve(disk.file).startsWith(`${resolve(dir)}/`)) {
    throw new Error(`VM harness guard: ${disk.file} is not an image file of this run`);
  }
}

/**
 * The initramfs' /init. The machine's root is read-only and does not change during a
 * boot: the guest may keep what it read of it (cache=loose), and node, the project and
 * the tools are read over 9p once a boot, not at every start of a program.
 */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${GUEST_MODULES.join(' ')}; do insmod /modules/$m.ko || echo "insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || { echo BV_INIT_FAILED 9p; poweroff -f; }
mount -t tmpfs -o size=1536m tmpfs /upper
mkdir -p /upper/up /upper/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/up,workdir=/upper/work /newroot || { echo BV_INIT_FAILED overlay; poweroff -f; }
mkdir -p /newroot/bv-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /newroot/bv-out || { echo BV_INIT_FAILED out; poweroff -f; }
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash /bv-out/guest-init.sh
`;

/** initramfs: busybox, the modules for virtio + 9p + overlay, and an /init that switches to the shared root. */
export function buildInitramfs(kver: string, cacheDir: string): string {
  // named for what is in it: a changed /init is a new image, never an old one from the cache
  const id = createHash('sha256').update(`${kver}\n${INIT}`).digest('hex').slice(0, 12);
  const out = join(cacheDir, `initrd-${kver}-${id}.img`);
  if (existsSync(out)) return out;
  // two VM test files may build it at once: each in a folder of its own, renamed into place
  const root = join(cacheDir, `initrd-${kver}-${id}-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'modules', 'lower', 'upper', 'newroot'])
    mkdirSync(join(root, d), { recursive: true });
  if (!existsSync('/bin/busybox')) throw new Error('the VM tier needs busybox-static: apt-get install busybox-static');
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const m of GUEST_MODULES) {
    const path = execFileSync('modinfo', ['-k', kver, '-n', m], { encoding: 'utf8' }).trim();
    if (!path.endsWith('.ko')) throw new Error(`module ${m} of ${kver} is not an uncompressed .ko: ${path}`);
    copyFileSync(path, join(root, 'modules', `${m}.ko`));
  }
  writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });
  execFileSync('bash', [
    '-c',
    'cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 > "$2"',
    'bash',
    root,
    `${out}.${process.pid}`,
  ]);
  renameSync(`${out}.${process.pid}`, out);
  rmSync(root, { recursive: true, force: true });
  return out;
}

/**
 * One boot: runs `node <project>/dist/test/vm/guest/<script>.js <args>` as the guest's
 * job. The guest script writes /bv-out/result.json; the console log comes back too.
 */
export async function bootVm(opts: {
  dir: string;
  disks: VmDisk[];
  script: string;
  args?: string[];
  timeoutMs?: number;
  project?: string;
  /** a folder kept across boots (the guest sees it as /bv-out) */
  share?: string;
  /** called with the console output so far, each time more arrives (the demo streams it) */
  onConsole?: (text: string) => void;
  /**
   * 'systemd': systemd is PID 1 (the machine's own, from the shared root) and runs the
   * guest's job as a service, so timers, udev rules and units behave as on a real host
   */
  init?: 'shell' | 'systemd';
}): Promise<VmRun> {
  const project = resolve(opts.project ?? process.cwd());
  if (/\s/.test(project)) throw new Error(`the VM tier needs a project path without spaces: ${project}`);
  const kver = kernelVersion();
  const cache = join(project, 'dist', 'vm');
  mkdirSync(cache, { recursive: true });
  const initrd = buildInitramfs(kver, cache);
  const out = opts.share ?? join(opts.dir, `out-${Date.now()}`);
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out)) {
    if (['result.json', 'exit-code', 'guest.log'].includes(f) || f.startsWith('host-ack-'))
      rmSync(join(out, f), { force: true });
  }
  for (const d of opts.disks) assertImageFile(d, opts.dir);
  const args = (opts.args ?? []).map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const qmpSocket = join(opts.dir, `qmp-${process.pid}-${Date.now()}.sock`);
  // the guest's job: its script, its exit code and log back through the share
  writeFileSync(
    join(out, 'guest-job.sh'),
    `cd ${project}\nnode dist/test/vm/guest/${opts.script}.js ${args} > /bv-out/guest.log 2>&1\necho $? > /bv-out/exit-code\nsync\necho BV_GUEST_DONE > /dev/console\n`,
  );
  const env = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root BV_VM=1 BV_OUT=/bv-out';
  // systemd: only what a backup needs (basic.target: udev, journald, timers), not the
  // machine's own services; the job powers the VM off when it is done
  const systemdStart = `mkdir -p /etc/systemd/system /etc/systemd/system.conf.d
printf '[Manager]\\nShowStatus=no\\n' > /etc/systemd/system.conf.d/bv-quiet.conf
# masked: tmpfiles would walk (and in the overlay empty) the machine's /tmp, where the
# project may be checked out, for minutes; the machine's own timers (apt, btrbk) are not this test's
for u in systemd-tmpfiles-setup.service systemd-tmpfiles-clean.timer $(ls /etc/systemd/system/timers.target.wants 2>/dev/null); do ln -sf /dev/null /etc/systemd/system/$u; done
cat > /etc/systemd/system/bv-guest.service <<'UNIT'
[Unit]
Description=btrfs-vault VM test job
Requires=basic.target systemd-udevd.service
After=basic.target systemd-udev-trigger.service
[Service]
Type=oneshot
Environment=${env}
ExecStart=/bin/bash /bv-out/guest-job.sh
ExecStartPost=/bin/systemctl poweroff --force --force
UNIT
cat > /etc/systemd/system/bv.target <<'UNIT'
[Unit]
Description=btrfs-vault VM test
Requires=basic.target bv-guest.service
After=basic.target
UNIT
echo BV_GUEST_READY
exec /lib/systemd/systemd --unit=bv.target
`;
  const shellStart = `/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
# only block devices matter to the tests (the modules are loaded above): a third of the time of all
udevadm trigger --action=add --subsystem-match=block; udevadm settle
${stamp('udev')}
echo BV_GUEST_READY
bash /bv-out/guest-job.sh
poweroff -f
`;
  writeFileSync(
    join(out, 'guest-init.sh'),
    `#!/bin/bash
# PID 1 of the guest, after switch_root onto the shared root.
export ${env}
# no tmpfs over /tmp: the project may be checked out there (the overlay is writable RAM anyway)
mount -t tmpfs tmpfs /run; mkdir -p /run/lock /run/udev /dev/pts
mount -t devpts -o ptmxmode=0666 devpts /dev/pts; [ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
${stamp('init')}
for m in virtio_blk md-mod raid1 dm-mod dm-crypt btrfs loop; do modprobe $m || echo "modprobe $m failed"; done
${stamp('modules')}
${opts.init === 'systemd' ? systemdStart : shellStart}`,
    { mode: 0o755 },
  );
  const qemuArgs = [
    // no default devices: a floppy drive (probed slowly on every scan), a network card (PXE)
    // the host's cores shared among the boots that run side by side (scripts/test.sh: BTRFS_VAULT_VM_JOBS)
    '-m',
    '2048',
    '-smp',
    String(vmCpus()),
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    `/boot/vmlinuz-${kver}`,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0 panic=-1 quiet bv_vm=1 systemd.show_status=0',
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${out},mount_tag=out,security_model=none`,
    ...opts.disks.flatMap((d) => [
      '-drive',
      `file=${d.file},if=none,id=drv-${d.serial},format=raw`,
      '-device',
      `virtio-blk-pci,drive=drv-${d.serial},serial=${d.serial},id=dev-${d.serial}`,
    ]),
    // the machine protocol, for the guest's requests (hot-unplug, throttling)
    '-qmp',
    `unix:${qmpSocket},server=on,wait=off`,
  ];
  const started = Date.now();
  const qemu = spawn('qemu-system-x86_64', qemuArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise((r) => qemu.on('close', r));
  const requests: string[] = [];
  let powerCut: string | undefined;
  let qmp: Promise<Qmp> | undefined;
  const monitor = () => (qmp ??= Qmp.connect(qmpSocket));
  const plugs = new Map<string, number>();
  const actions: HostActions = {
    async unplug(serial) {
      const m = await monitor();
      const id = `dev-${serial}`;
      const gone = m.waitForEvent(
        (e) => e.event === 'DEVICE_DELETED' && e.data?.device === id,
        30_000,
        `DEVICE_DELETED of ${id} (the guest did not eject it)`,
      );
      await m.execute('device_del', { id });
      await gone;
    },
    async plug(serial) {
      const disk = opts.disks.find((d) => d.serial === serial);
      if (!disk) throw new Error(`no disk ${serial} in this boot`);
      assertImageFile(disk, opts.dir);
      // the drive went away with the device; a fresh node for the same image file
      const n = (plugs.get(serial) ?? 0) + 1;
      plugs.set(serial, n);
      const node = `drv-${serial}-${n}`;
      const m = await monitor();
      await m.execute('blockdev-add', {
        driver: 'raw',
        'node-name': node,
        file: { driver: 'file', filename: disk.file },
      });
      await m.execute('device_add', { driver: 'virtio-blk-pci', drive: node, serial, id: `dev-${serial}` });
    },
    async throttleRead(serial, bps) {
      await (
        await monitor()
      ).execute('block_set_io_throttle', {
        device: `drv-${serial}`,
        bps: 0,
        bps_rd: bps,
        bps_wr: 0,
        iops: 0,
        iops_rd: 0,
        iops_wr: 0,
      });
    },
    powerCut(reason) {
      powerCut = reason;
      qemu.kill('SIGKILL');
    },
  };
  let consoleText = '';
  let readyAt: number | undefined;
  let scanned = 0;
  let handling = Promise.resolve();
  // a character may be split between two reads
  const decoder = new StringDecoder('utf8');
  const onOutput = (c: Buffer) => {
    consoleText += decoder.write(c);
    if (readyAt === undefined && consoleText.includes('BV_GUEST_READY')) readyAt = Date.now();
    opts.onConsole?.(consoleText);
    // requests arrive as whole lines: BV_HOST <n> <action> <args...>
    for (let nl = consoleText.indexOf('\n', scanned); nl >= 0; nl = consoleText.indexOf('\n', scanned)) {
      const line = consoleText.slice(scanned, nl).replace(/\r$/, '');
      scanned = nl + 1;
      const m = /BV_HOST (\d+) (\S+)(.*)$/.exec(line);
      if (!m) continue;
      const [, n, action, rest] = m as unknown as [string, string, string, string];
      handling = handling.then(async () => {
        const args = rest.trim().split(/\s+/).filter(Boolean);
        let answer = 'ok';
        try {
          await handle(actions, action, args);
        } catch (err) {
          answer = `error: ${(err as Error).message}`;
        }
        requests.push(`${action} ${args.join(' ')}: ${answer}`);
        if (powerCut === undefined) writeFileSync(join(out, `host-ack-${n}`), answer);
      });
    }
  };
  qemu.stdout.on('data', onOutput);
  qemu.stderr.on('data', (c: Buffer) => (consoleText += c.toString('utf8')));
  const timeout = setTimeout(() => qemu.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
  await closed;
  clearTimeout(timeout);
  await handling;
  if (qmp) (await qmp.catch(() => undefined))?.close();
  rmSync(qmpSocket, { force: true });
  const read = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : '');
  const code = read('exit-code').trim();
  let result: unknown;
  try {
    result = JSON.parse(read('result.json'));
  } catch {
    result = undefined;
  }
  const seconds = (Date.now() - started) / 1000;
  // where a boot's time goes, for the test output (not the demo's terminal)
  if (!opts.onConsole)
    process.stdout.write(
      `# vm: ${[opts.script, ...(opts.args ?? [])].join(' ')}: ${seconds.toFixed(1)} s, ready after ${readyAt === undefined ? '-' : ((readyAt - started) / 1000).toFixed(1)} s (${bootStages(consoleText)})\n`,
    );
  return {
    exitCode: code === '' ? undefined : Number(code),
    console: consoleText,
    guestLog: read('guest.log'),
    result,
    seconds,
    requests,
    powerCut,
  };
}

/** A line on the console with the guest's clock (seconds since its kernel started) at a stage of the boot. */
function stamp(stage: string): string {
  return `echo "BV_STAGE ${stage} $(cut -d' ' -f1 /proc/uptime)" > /dev/console`;
}

/** Where a boot's time went before the job, by the guest's clock: up to the first stamp, then from each to the next. */
function bootStages(consoleText: string): string {
  let last = 0;
  return [...consoleText.matchAll(/BV_STAGE (\w+) ([\d.]+)/g)]
    .map((m) => {
      const at = Number(m[2]);
      const part = `${m[1]} ${(at - last).toFixed(1)}`;
      last = at;
      return part;
    })
    .join(', ');
}

async function handle(actions: HostActions, action: string, args: string[]): Promise<void> {
  const serial = args[0] ?? '';
  if (action !== 'power-cut' && !/^bv-[a-z0-9-]+$/.test(serial)) throw new Error(`not a test disk: ${serial}`);
  switch (action) {
    case 'unplug':
      return actions.unplug(serial);
    case 'plug':
      return actions.plug(serial);
    case 'throttle-read':
      return actions.throttleRead(serial, Number(args[1]));
    case 'power-cut':
      return actions.powerCut(args.join(' '));
    default:
      throw new Error(`unknown request ${action}`);
  }
}

export function requireVmTools(): void {
  for (const tool of ['qemu-system-x86_64', 'cpio', 'gzip', 'modinfo']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      throw new Error(`the VM tier needs ${tool} (apt-get install qemu-system-x86 cpio kmod)`);
    }
  }
  kernelVersion();
  if (!statSync('/bin/busybox', { throwIfNoEntry: false })) throw new Error('the VM tier needs busybox-static');
}

/** Every scenario the guest ran passed, all of them ran, and the guest ended cleanly; failures carry the guest's log. */
export function assertScenarios(run: VmRun, expected: number): void {
  const result = run.result as
    { scenarios: { name: string; ok: boolean; error?: string; seconds: number; notes: string[] }[] } | undefined;
  const context = `\n--- guest log ---\n${run.guestLog.slice(-4000)}\n--- console ---\n${run.console.slice(-3000)}`;
  assert.ok(result, `the guest brought back no result (exit ${run.exitCode}, ${run.seconds} s)${context}`);
  for (const s of result.scenarios) {
    process.stdout.write(
      `# vm: ${s.ok ? 'ok' : 'FAILED'} ${s.name} (${s.seconds} s)${s.notes.length ? ` — ${s.notes.join('; ')}` : ''}\n`,
    );
  }
  const failed = result.scenarios.filter((s) => !s.ok);
  assert.equal(failed.length, 0, `${failed.map((s) => `${s.name}: ${s.error}`).join('\n\n')}${context}`);
  assert.equal(result.scenarios.length, expected, `all scenarios ran${context}`);
  assert.equal(run.exitCode, 0, `guest exit code${context}`);
}

/** vCPUs per boot: the host's cores divided among the boots the test runner runs at once (at least one). */
function vmCpus(): number {
  const jobs = Math.max(1, Number(process.env.BTRFS_VAULT_VM_JOBS) || 1);
  return Math.max(1, Math.floor(availableParallelism() / jobs));
}
