#!/usr/bin/env node
// CommonJS (see package.json here): starting without the ES module loader is faster.
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist', 'bundle');
let launch;
try {
  ({ launch } = require(join(bundle, 'launch.cjs')));
} catch (err) {
  process.stderr.write(`btrfs-vault: cannot load ${bundle}/launch.cjs (${err.code ?? err.message})\nfix: build it: npm run build (in ${join(__dirname, '..')})\n`);
  process.exit(70);
}
launch(bundle);
