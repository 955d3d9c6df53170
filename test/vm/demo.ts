import { rmSync } from 'node:fs';
import { bootVm, makeDisk, requireVmTools } from './harness.js';
import { tempDir } from '../support/scratch.js';
import { requireRoot } from '../support/loop-disk.js';

// `npm run demo` (scripts/demo.sh): boots the test VM with four empty sparse disks and
// runs guest/demo.ts, streaming the guest's console to this terminal as it comes.

const READY = 'BV_GUEST_READY';
const DONE = 'BV_GUEST_DONE';

requireRoot();
requireVmTools();
const dir = tempDir('vm');
const started = Date.now();
const out = process.stdout;
const size = out.isTTY && out.columns > 0 ? `${out.columns}x${out.rows}` : 'plain';
const disks = [
  makeDisk(dir, 'bv-demo-a'),
  makeDisk(dir, 'bv-demo-b'),
  makeDisk(dir, 'bv-demo-src'),
  makeDisk(dir, 'bv-demo-new'),
];
out.write(
  "Booting a throw-away VM (Debian's kernel under qemu, no KVM needed; this machine's root read-only underneath)\n" +
    `with four empty sparse disk images in ${dir}: nothing here touches a disk of this machine.\n`,
);

let printed = -1;
/** What the guest's demo writes between the two markers, passed on as it arrives. */
function stream(text: string): void {
  if (printed < 0) {
    const ready = text.indexOf(READY);
    if (ready < 0) return;
    printed = text.indexOf('\n', ready) + 1;
    if (printed === 0) return void (printed = -1);
    out.write(`the VM is up after ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const done = text.indexOf(DONE, printed);
  let end = done >= 0 ? done : text.length;
  // hold back a line that may be the start of the end marker
  const lineStart = text.lastIndexOf('\n', end - 1) + 1;
  if (done < 0 && DONE.startsWith(text.slice(lineStart, end).replace(/^\r/, '')) && lineStart < end) end = lineStart;
  if (end <= printed) return;
  const chunk = text.slice(printed, end);
  printed = end;
  // the serial line ends lines with \r\n; a log or a pipe wants plain \n
  out.write(out.isTTY ? chunk : chunk.replace(/\r/g, ''));
}

// Ctrl-C reaches qemu too (one process group); the images go with the demo
process.once('SIGINT', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(130);
});
let code = 1;
try {
  const run = await bootVm({ dir, disks, script: 'demo', args: [size], timeoutMs: 600_000, onConsole: stream });
  code = run.exitCode ?? 1;
  if (code !== 0) {
    out.write(`\nthe demo failed (guest exit ${run.exitCode ?? 'none'}); its log:\n${run.guestLog.slice(-3000)}\n`);
    if (printed < 0) out.write(`console:\n${run.console.slice(-3000)}\n`);
  }
  out.write(
    `\nThe whole demo took ${((Date.now() - started) / 1000).toFixed(0)} s (the VM's boot included); the disk images are deleted.\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = code;
