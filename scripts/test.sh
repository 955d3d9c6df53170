#!/usr/bin/env bash
# The test suite: unit, host (real btrfs on loop devices) and vm (the whole RAID/LUKS/LVM
# stack in a throw-away qemu VM). Needs root.
#   scripts/test.sh          the whole suite, the linter first (npm test)
#   scripts/test.sh host     the host tier alone (npm run test:host); vm likewise (test:vm)
# The unit tier alone needs no root: npm run test:unit.
# A missing tool or missing root fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}
case "$tier" in
  all | host | vm) ;;
  *) echo "usage: scripts/test.sh [host|vm] (no argument: the whole suite; the unit tier alone: npm run test:unit)" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "npm test needs root: the host tier creates loop devices and btrfs filesystems, the VM tier hands image files to qemu (sudo npm test)" >&2
  exit 1
fi
bash scripts/deps.sh
tools=(perl setpriv)
case "$tier" in
  all) tools+=(btrfs mkfs.btrfs losetup strace pkill fuser flock python3 ssh ssh-keygen ssh-keyscan /usr/sbin/sshd qemu-system-x86_64 cpio dpkg-deb lintian groff zsh man) ;;
  host) tools+=(btrfs mkfs.btrfs losetup strace pkill fuser flock python3 ssh ssh-keygen ssh-keyscan /usr/sbin/sshd) ;;
  vm) tools+=(qemu-system-x86_64 cpio dpkg-deb lintian man) ;;
esac
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
if [ "$tier" = all ] || [ "$tier" = host ]; then
  modprobe btrfs 2>/dev/null || true
  grep -qw btrfs /proc/filesystems || { echo "this kernel has no btrfs: the host tier cannot run" >&2; exit 1; }
fi
# The unit and host tiers one file at a time; the VM tier two boots side by side, the
# cores shared among them (BTRFS_VAULT_VM_JOBS=1: one at a time with every core).
export BTRFS_VAULT_VM_JOBS=${BTRFS_VAULT_VM_JOBS:-2}
vm_tier() { node --test --test-concurrency="$BTRFS_VAULT_VM_JOBS" dist/test/vm/*.test.js; }
case "$tier" in
  # the linter and the formatter first: dead code, a forgotten await, an unused import fail the run
  all) npm run lint --silent
    status=0
    node --test --test-concurrency=1 dist/test/unit/*.test.js dist/test/host/*.test.js || status=$?
    # the VM tier runs even when an earlier tier failed: one run reports every failure
    vm_tier || status=$?
    exit "$status" ;;
  host) node --test --test-concurrency=1 dist/test/host/*.test.js ;;
  vm) vm_tier ;;
esac
