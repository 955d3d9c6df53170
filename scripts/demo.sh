#!/usr/bin/env bash
# npm run demo: the disk stack in a throw-away VM (test/vm/demo.ts): setup on an empty
# virtual disk, a full and an incremental backup, add-mirror to [UU], status, a restore,
# close. npm run demo -- --quick: a plain btrfs disk on loop devices (scripts/demo-quick.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  --quick) exec bash scripts/demo-quick.sh ;;
  '') ;;
  *) echo "usage: npm run demo [-- --quick]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (it boots a VM with qemu and its virtual disks): sudo npm run demo (or, on loop devices: sudo npm run demo -- --quick)" >&2; exit 1; }
bash scripts/deps.sh >/dev/null
exec node dist/test/vm/demo.js
