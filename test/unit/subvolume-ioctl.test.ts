import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subvolInfoIoctl, subvolumeInfoArgv } from '../../src/btrfs/subvolume-info.js';
import { isVaultError } from '../../src/core/errors.js';

// BTRFS_IOC_GET_SUBVOL_INFO is _IOR(0x94, 60, struct btrfs_ioctl_get_subvol_info_args),
// 504 bytes. The kernel's asm-generic/ioctl.h: dir in 2 bits from bit 30, read = 2, size
// in 14 bits; powerpc and mips: dir in 3 bits from bit 29, read = 2, size in 13 bits.
const ior = (dirShift: number, read: number) => ((read << dirShift) | (504 << 16) | (0x94 << 8) | 60) >>> 0;

test('the subvolume-info ioctl number by architecture: generic layout, and powerpc/mips with their own', () => {
  for (const arch of ['x64', 'arm64', 'arm', 'ia32', 'riscv64', 's390x'])
    assert.equal(subvolInfoIoctl(arch), ior(30, 2), arch);
  for (const arch of ['ppc64', 'ppc', 'mips', 'mipsel']) assert.equal(subvolInfoIoctl(arch), ior(29, 2), arch);
  assert.equal(ior(29, 2), 0x41f8943c, 'the number the issue names for ppc64el/mips');
  assert.equal(subvolInfoIoctl(), subvolInfoIoctl(process.arch), 'this machine: its own');
  assert.match(subvolumeInfoArgv(['/x'], 'ppc64')[1][1]!, /ioctl\(\$h, 0x41f8943c, \$b\)/);
  assert.match(subvolumeInfoArgv(['/x'], 'x64')[1][1]!, /ioctl\(\$h, 0x81f8943c, \$b\)/);
});

test('an architecture whose number is not known is refused with a clear message, not guessed', () => {
  for (const arch of ['sparc64', 'alpha', 'hppa']) {
    assert.throws(
      () => subvolumeInfoArgv(['/x'], arch),
      (err: unknown) =>
        isVaultError(err) &&
        err.message.includes(`(${arch})`) &&
        /BTRFS_IOC_GET_SUBVOL_INFO/.test(err.message) &&
        /uname -m/.test(err.fix ?? ''),
    );
  }
});
