#!/usr/bin/env node
// CommonJS (see package.json here): starting without the ES module loader is faster.
require('../dist/bundle/launch.cjs').launch(require('node:path').join(__dirname, '..', 'dist', 'bundle'));
