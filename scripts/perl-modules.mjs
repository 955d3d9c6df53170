// The perl programs (src/**/NAME.pl) for tsc's output, which the unit and host tests
// run: dist/src/**/NAME.pl.js, a module whose default export is the file's text, as
// esbuild's text loader gives it to the bundles (scripts/bundle.mjs).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const programs = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? programs(join(dir, e.name)) : e.name.endsWith('.pl') ? [join(dir, e.name)] : [],
  );
for (const file of programs('src')) {
  const out = join('dist', `${file}.js`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `// made from ${file} by scripts/perl-modules.mjs\nexport default ${JSON.stringify(readFileSync(file, 'utf8'))};\n`,
  );
}
