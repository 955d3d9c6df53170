#!/usr/bin/env bash
# The whole test suite: unit, host (real btrfs on loop devices) and vm (the whole
# RAID/LUKS/LVM stack in a throw-away qemu VM). Needs root.
# A missing tool or missing root fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "npm test needs root: the host tier creates loop devices and btrfs filesystems (sudo npm test)" >&2
  exit 1
fi
bash scripts/deps.sh
for tool in btrfs mkfs.btrfs losetup strace pkill fuser setpriv flock perl python3 qemu-system-x86_64 cpio; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
modprobe btrfs 2>/dev/null || true
grep -qw btrfs /proc/filesystems || { echo "this kernel has no btrfs: the host tier cannot run" >&2; exit 1; }
# the linter first: dead code, a forgotten await, an unused import fail the run
npx eslint .
node --test --test-concurrency=1 dist/test/unit/*.test.js dist/test/host/*.test.js dist/test/vm/*.test.js
