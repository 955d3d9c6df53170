// Writes the man page and the shell completions from the program's command definitions
// (src/cli/program.ts, walked by src/cli/docs/): dist/man/btrfs-vault.8,
// dist/man/btrfs-vault.bash and dist/man/_btrfs-vault (zsh). Run by npm run build, after tsc.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../dist/src/cli/program.js';
import { programModel } from '../dist/src/cli/docs/command-model.js';
import { manPage } from '../dist/src/cli/docs/man-page.js';
import { bashCompletion } from '../dist/src/cli/docs/bash-completion.js';
import { zshCompletion } from '../dist/src/cli/docs/zsh-completion.js';

/** The page's date: SOURCE_DATE_EPOCH, else the last commit's, so a rebuild writes the same bytes. */
function pageDate() {
  let epoch = process.env.SOURCE_DATE_EPOCH;
  if (!epoch) {
    try {
      epoch = execFileSync('git', ['log', '-1', '--format=%ct'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      epoch = '0'; // not a git checkout (an unpacked npm tarball)
    }
  }
  return new Date(Number(epoch) * 1000).toISOString().slice(0, 10);
}

const { program } = buildProgram(() => {
  throw new Error('scripts/man.mjs only reads the command definitions');
});
const model = programModel(program);
const out = 'dist/man';
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'btrfs-vault.8'), manPage(model, pageDate()));
// an option without a kind of value is completed as free text meanwhile; the unit test fails on it
let warned = false;
const warn = (message) => {
  if (!warned) process.stderr.write(`scripts/man.mjs: ${message}\n`);
  warned = true;
};
writeFileSync(join(out, 'btrfs-vault.bash'), bashCompletion(model, warn));
writeFileSync(join(out, '_btrfs-vault'), zshCompletion(model, warn));
