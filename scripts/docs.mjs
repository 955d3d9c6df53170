// `npm run docs`: writes the generated parts of the documentation from the code that
// describes them (run after the build; the unit tests fail while any part is stale):
// docs/CONFIG.md's table of keys (src/config/schema.ts) and docs/COMMANDS.md's exit
// codes (src/core/exit-codes.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { generatedBlocks, withBlock } from '../dist/test/support/doc-blocks.js';

for (const block of generatedBlocks()) {
  const text = readFileSync(block.file, 'utf8');
  const next = withBlock(text, block.marker, block.text());
  if (next !== text) {
    writeFileSync(block.file, next);
    console.log(`wrote ${block.file} (${block.marker})`);
  }
}
