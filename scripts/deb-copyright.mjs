// debian/copyright in the machine-readable form (DEP-5) for the .deb (scripts/deb.mjs):
// btrfs-vault itself, and each npm package whose code the release bundle carries (read
// from the bundle's source maps), with its copyright line and its license.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FORMAT = 'https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/';

/** The npm packages bundled into dist/bundle, by the sources of its maps. */
function bundledPackages() {
  const names = new Set();
  for (const f of readdirSync('dist/bundle').filter((f) => f.endsWith('.map'))) {
    for (const s of JSON.parse(readFileSync(join('dist/bundle', f), 'utf8')).sources) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s);
      if (m) names.add(m[1]);
    }
  }
  return [...names].sort();
}

/** DEP-5's names: npm's MIT is Debian's Expat. */
const licenseName = (spdx) => ({ MIT: 'Expat' })[spdx] ?? spdx;

function copyrightOf(dir, meta) {
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const lines = file
    ? readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^(\(c\)|copyright\b)/i.test(l) && /\d{4}|\(c\)|©/i.test(l))
        .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, ''))
    : [];
  if (lines.length > 0) return lines;
  const author = typeof meta.author === 'string' ? meta.author : meta.author?.name;
  return [author ?? `the ${meta.name} authors`];
}

const TEXTS = {
  Expat: `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
  'Apache-2.0': `Licensed under the Apache License, Version 2.0 (the "License"); you may not
use this file except in compliance with the License. Unless required by
applicable law or agreed to in writing, software distributed under the
License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS
OF ANY KIND, either express or implied.
.
On Debian systems, the complete text of the Apache License, Version 2.0 can
be found in "/usr/share/common-licenses/Apache-2.0".`,
};

/** A text as the lines of a DEP-5 field's continuation: indented, blank lines as " ." */
const indent = (text) =>
  text
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : l === '.' ? ' .' : ` ${l}`))
    .join('\n');

export function copyrightFile() {
  // the project's own BSD-3-Clause text: LICENSE without its title and copyright line
  const own = readFileSync('LICENSE', 'utf8').split('\n');
  const ownCopyright = own.find((l) => /^Copyright/.test(l)).replace(/^Copyright (\(c\) )?/, '');
  const ownText = own
    .slice(own.findIndex((l) => /^Copyright/.test(l)) + 1)
    .join('\n')
    .trim();
  const stanzas = [
    `Format: ${FORMAT}\nUpstream-Name: btrfs-vault\nComment: /usr/lib/btrfs-vault holds btrfs-vault bundled with the npm packages\n it uses (esbuild); each has its stanza below.`,
    `Files: *\nCopyright: ${ownCopyright}\nLicense: BSD-3-Clause`,
  ];
  const used = new Set(['BSD-3-Clause']);
  for (const name of bundledPackages()) {
    const dir = join('node_modules', name);
    if (!existsSync(join(dir, 'package.json'))) throw new Error(`${name} is bundled but not in node_modules`);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const license = licenseName(meta.license);
    if (!(license in TEXTS) && license !== 'BSD-3-Clause')
      throw new Error(`${name}: license ${meta.license} has no text in scripts/deb-copyright.mjs`);
    used.add(license);
    stanzas.push(
      `Files: node_modules/${name}/*\nCopyright: ${copyrightOf(dir, meta).join('\n ')}\nLicense: ${license}\nComment: bundled (${meta.name} ${meta.version})`,
    );
  }
  for (const license of [...used].sort()) {
    stanzas.push(`License: ${license}\n${indent(license === 'BSD-3-Clause' ? ownText : TEXTS[license])}`);
  }
  return `${stanzas.join('\n\n')}\n`;
}
