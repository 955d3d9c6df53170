// Builds btrfs-vault_<version>_all.deb with dpkg-deb alone (npm run package, after the
// build): the release bundle under /usr/lib/btrfs-vault, the /usr/sbin/btrfs-vault
// launcher, the man page, the bash and zsh completions, the docs with a DEP-5
// copyright file. Reproducible: every mtime is SOURCE_DATE_EPOCH (default: the last
// commit's time), files are owned by root (--root-owner-group), and nothing of the
// machine it is built on goes in.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { copyrightFile } from './deb-copyright.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const { version } = pkg;
const NAME = 'btrfs-vault';
const MAINTAINER = maintainer();
const epoch = Number(
  process.env.SOURCE_DATE_EPOCH || execFileSync('git', ['log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim(),
);
// node scripts/deb.mjs [FOLDER]: where the .deb goes (default: here, like npm pack)
const out = join(process.argv[2] ?? '.', `${NAME}_${version}_all.deb`);
mkdirSync(dirname(out), { recursive: true });
const stage = 'dist/deb';
const root = join(stage, 'root');
rmSync(stage, { recursive: true, force: true });

for (const f of ['dist/bundle/launch.cjs', 'dist/man/btrfs-vault.8']) {
  if (!existsSync(f)) throw new Error(`${f} is missing: npm run build first (npm run package does)`);
}

function put(path, data, mode = 0o644) {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
  chmodSync(file, mode);
}
// gzip -9n: no name, no time in the header, so the bytes do not depend on the build
const gz = (data) => gzipSync(data, { level: 9 });

// the release bundle; its source maps stay out (Node shows them only with --enable-source-maps)
for (const f of readdirSync('dist/bundle').filter((f) => f.endsWith('.cjs'))) {
  put(`usr/lib/${NAME}/${f}`, readFileSync(join('dist/bundle', f)));
}
put(
  `usr/sbin/${NAME}`,
  `#!/usr/bin/node
// btrfs-vault: runs the bundle in /usr/lib/btrfs-vault (as bin/btrfs-vault.js does for the npm tarball)
'use strict';
const bundle = '/usr/lib/btrfs-vault';
let launch;
try {
  ({ launch } = require(bundle + '/launch.cjs'));
} catch (err) {
  process.stderr.write('btrfs-vault: cannot load ' + bundle + '/launch.cjs (' + (err.code || err.message) + ')\\nfix: reinstall: apt install --reinstall btrfs-vault\\n');
  process.exit(70);
}
launch(bundle);
`,
  0o755,
);
put(`usr/share/man/man8/${NAME}.8.gz`, gz(readFileSync('dist/man/btrfs-vault.8')));
put(`usr/share/bash-completion/completions/${NAME}`, readFileSync('dist/man/btrfs-vault.bash'));
put(`usr/share/zsh/vendor-completions/_${NAME}`, readFileSync('dist/man/_btrfs-vault'));

const doc = `usr/share/doc/${NAME}`;
put(`${doc}/copyright`, copyrightFile());
// a native package (no Debian revision: the version is package.json's), so its
// changelog is changelog.gz, not changelog.Debian.gz (Debian policy 12.7)
put(
  `${doc}/changelog.gz`,
  gz(
    `${NAME} (${version}) unstable; urgency=medium\n\n  * Release ${version} (the project's history is its changelog).\n\n -- ${MAINTAINER}  ${rfc2822(epoch)}\n`,
  ),
);
// Debian policy 12.3: documentation over 4 kB compressed with gzip -9n. docs/ stays a
// folder beside the README, so the paths the README, the man page and messages name are there
for (const f of ['README.md', ...readdirSync('docs').map((f) => join('docs', f))].filter((f) => f.endsWith('.md'))) {
  const data = readFileSync(f);
  const to = `${doc}/${f}`;
  if (data.length > 4096) put(`${to}.gz`, gz(data));
  else put(to, data);
}

// DEBIAN/: md5sums of every file, the size dpkg-gencontrol would say, control, postrm
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else files.push(p);
  }
};
walk(root);
files.sort();
const md5sums = files
  .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(root, f)}`)
  .join('\n');
const dirs = new Set(files.flatMap((f) => ancestors(relative(root, f))));
// dpkg-gencontrol: each file's size in KiB rounded up, and one for each folder
const installedSize = files.reduce((n, f) => n + Math.ceil(lstatSync(f).size / 1024), 0) + dirs.size;
put('DEBIAN/md5sums', `${md5sums}\n`);
put(
  'DEBIAN/control',
  `Package: ${NAME}
Version: ${version}
Architecture: all
Maintainer: ${MAINTAINER}
Installed-Size: ${installedSize}
Depends: nodejs (>= 20), btrfs-progs, util-linux (>= 2.38), perl-base (>= 5.36)
Recommends: mdadm, cryptsetup-bin, lvm2, gdisk, rsync, acl, psmisc
Section: admin
Priority: optional
Description: encrypted, mirrored, incremental btrfs backups
 btrfs-vault snapshots btrfs subvolumes and sends them, incrementally, to a
 backup disk: a plain btrfs disk, or a stack that its setup command makes (GPT,
 an mdadm RAID1 mirror, LUKS encryption, LVM, btrfs). A systemd timer and a
 udev rule back up hourly and whenever the disk is plugged in; restore brings
 back a whole subvolume or a single file; verify compares and scrubs.
`,
);
// the compile cache (/var/cache/btrfs-vault) is made by the program and goes with it;
// what the host remembers of its backups (/var/lib/btrfs-vault) only on purge
put(
  'DEBIAN/postrm',
  `#!/bin/sh
set -e
case "$1" in
  remove) rm -rf /var/cache/btrfs-vault ;;
  purge) rm -rf /var/cache/btrfs-vault /var/lib/btrfs-vault ;;
esac
exit 0
`,
  0o755,
);

// every folder 0755, every mtime the same
const all = [root];
const walkAll = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    all.push(p);
    if (e.isDirectory()) walkAll(p);
  }
};
walkAll(root);
for (const p of all) {
  if (lstatSync(p).isDirectory()) chmodSync(p, 0o755);
  utimesSync(p, epoch, epoch);
}
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
});

process.stdout.write(`${out}\n`);

/**
 * The Maintainer field: the packager's DEBFULLNAME and DEBEMAIL (as dch takes them), else
 * package.json's author ("Name <address>"); without an address the build stops.
 */
function maintainer() {
  const { DEBFULLNAME: name, DEBEMAIL: mail } = process.env;
  if (name && mail) return `${name} <${mail}>`;
  const author = typeof pkg.author === 'object' ? `${pkg.author.name} <${pkg.author.email}>` : pkg.author;
  if (typeof author !== 'string' || !/^[^<>]+ <[^@\s<>]+@[^@\s<>]+>$/.test(author))
    throw new Error(
      'the .deb needs a Maintainer: set DEBFULLNAME and DEBEMAIL, or "author": "Name <address>" in package.json',
    );
  return author;
}

function ancestors(path) {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

function rfc2822(seconds) {
  const d = new Date(seconds * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
