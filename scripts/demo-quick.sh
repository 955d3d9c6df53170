#!/usr/bin/env bash
# The quick demo (npm run demo -- --quick): btrfs-vault on two loop devices (no real disk is touched):
# a source btrfs with a subvolume, a backup btrfs with a token, a full backup,
# a change, an incremental backup, the listing and a look inside the backup.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (it creates loop devices): sudo npm run demo -- --quick" >&2; exit 1; }
bash scripts/deps.sh >/dev/null
vault() { echo; echo "\$ btrfs-vault $*"; node bin/btrfs-vault.js "$@"; }

work=$(mktemp -d /tmp/btrfs-vault-demo.XXXXXX)
loops=()
cleanup() {
  for m in "$work/backup" "$work/source"; do mountpoint -q "$m" && umount "$m"; done
  for l in "${loops[@]}"; do losetup -d "$l"; done
  rm -rf "$work"
}
trap cleanup EXIT
mkloop() { # sparse file -> loop device -> btrfs, mounted; only devices made here
  truncate -s 2G "$work/$1.img"
  local dev; dev=$(losetup --find --show "$work/$1.img")
  [[ "$dev" =~ ^/dev/loop[0-9]+$ ]] || { echo "refusing $dev" >&2; exit 1; }
  loops+=("$dev")
  mkfs.btrfs -q -f "$dev"; mkdir -p "$work/$1"; mount "$dev" "$work/$1"
}
mkloop source
mkloop backup
btrfs -q subvolume create "$work/source/home"
mkdir -p "$work/source/home/alice"
head -c 50M /dev/urandom > "$work/source/home/alice/photos.bin"
for i in $(seq 1 500); do echo "note $i" > "$work/source/home/alice/note-$i.txt"; done

mkdir -m 700 "$work/etc"
head -c 64 /dev/urandom > "$work/backup/.token"
(umask 077; sha512sum "$work/backup/.token" > "$work/etc/token.sha512")
cat > "$work/etc/config.toml" <<TOML
host = "demo"
sources = [{ path = "$work/source/home", name = "home" }]
snapshot_dir = "$work/source/snapshots"
[target]
mountpoint = "$work/backup"
TOML
echo "config ($work/etc/config.toml):"; sed 's/^/    /' "$work/etc/config.toml"

vault backup --config "$work/etc/config.toml"
echo "changed" >> "$work/source/home/alice/note-7.txt"
head -c 5M /dev/urandom > "$work/source/home/alice/new.bin"
vault backup --config "$work/etc/config.toml"
vault list --config "$work/etc/config.toml"
echo; echo "a foreign disk is refused:"
echo "someone else's" > "$work/backup/.token"
vault backup --config "$work/etc/config.toml" || echo "(exit status $?: nothing was written)"
echo; echo "the backup of note-7.txt: $(cat "$work/backup/home/latest/alice/note-7.txt" | tr '\n' ' ')"
