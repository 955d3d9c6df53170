#!/usr/bin/env bash
# Installs what btrfs-vault's demo, tests and benchmark need on Debian 12, then builds.
# Usage: scripts/deps.sh [extra Debian packages...]
set -euo pipefail
cd "$(dirname "$0")/.."

# host tier: btrfs on loop devices; VM tier: qemu with Debian's kernel and the stack tools (systemd: the VM boot with systemd as PID 1, systemd-analyze)
# backup servers (the host tier's sshd on 127.0.0.1): openssh-client, openssh-server
# the package, man page and completions (npm run package, their tests): lintian, groff, zsh, bash-completion, man-db
need=(btrfs-progs util-linux procps strace psmisc python3-minimal rsync acl attr time systemd \
  qemu-system-x86 linux-image-amd64 busybox-static udev mdadm cryptsetup-bin lvm2 gdisk cpio kmod \
  lintian groff zsh bash-completion man-db openssh-client openssh-server "$@")
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
