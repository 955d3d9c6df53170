import { schemaKeys, type KeyEntry } from '../../src/config/key-docs.js';
import { configSchema } from '../../src/config/schema.js';
import { EXIT_CODES } from '../../src/core/exit-codes.js';

// The parts of the documentation made from the code that describes them: each sits
// between two markers in its file. `npm run docs` (scripts/docs.mjs) writes them; a
// unit test (docs-blocks.test.ts) fails while one is stale.

export interface DocBlock {
  /** the file, from the repository's root */
  file: string;
  /** <!-- marker:start --> … <!-- marker:end --> */
  marker: string;
  text: () => string;
}

export function generatedBlocks(): DocBlock[] {
  return [
    { file: 'docs/CONFIG.md', marker: 'config-keys', text: configReference },
    { file: 'docs/COMMANDS.md', marker: 'exit-codes', text: exitCodesMarkdown },
  ];
}

/** What is between the markers now, or undefined without them. */
export function blockIn(text: string, marker: string): string | undefined {
  const start = `<!-- ${marker}:start -->`;
  const at = text.indexOf(start);
  const end = text.indexOf(`<!-- ${marker}:end -->`);
  return at < 0 || end < at ? undefined : text.slice(at + start.length, end).trim();
}

/** The text with `block` between the markers (which must be there). */
export function withBlock(text: string, marker: string, block: string): string {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const at = text.indexOf(start);
  const to = text.indexOf(end);
  if (at < 0 || to < at) throw new Error(`no ${start} … ${end} in the file`);
  return `${text.slice(0, at + start.length)}\n${block}\n${text.slice(to)}`;
}

/** Every key of config.toml: its type, default, example and what it does. */
export function configReference(): string {
  const rows = schemaKeys(configSchema).map(keyRow);
  return ['| key | type | default | example | what it does |', '|---|---|---|---|---|', ...rows].join('\n');
}

function keyRow(k: KeyEntry): string {
  const doc = k.doc;
  const name = k.type === 'table' ? `[${k.key}]` : k.key;
  const dflt =
    k.schemaDefault !== undefined ? code(JSON.stringify(k.schemaDefault).replaceAll(',', ', ')) : (doc?.default ?? '');
  const example = (doc?.example ?? '').split('\n').map(code).join('<br>');
  // an array's item is described by what it expects
  const does = k.key.endsWith('[]') ? `each item: ${doc?.expects ?? ''}` : (doc?.does ?? '');
  return `| ${[code(name), k.type, dflt, example, does].map(cell).join(' | ')} |`;
}

/** docs/COMMANDS.md's table of exit codes. */
export function exitCodesMarkdown(): string {
  return [
    '| code | meaning | when |',
    '|---|---|---|',
    ...EXIT_CODES.map((r) => `| ${r.code} | ${r.meaning} | ${cell(r.when)} |`),
  ].join('\n');
}

const code = (s: string) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);
// GitHub's tables: a | in a cell (also in code) is written \|
const cell = (s: string) => s.replaceAll('|', '\\|');
