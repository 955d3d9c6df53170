import { stringify } from 'smol-toml';
import { RECORD_KEY, schemaKeys } from './key-docs.js';

// A TOML file that explains itself: each key written with what it does, from the
// schema's description of that key, so a file setup writes never drifts from the
// reference. Values go through smol-toml (its escaping); table names are the
// schema's own keys.

const WIDTH = 88;

type Describe = { get(key: string): string | undefined };

/** `value` (already checked against `schema`) as TOML, each key and table under a comment saying what it does. */
export function describedToml(schema: Parameters<typeof schemaKeys>[0], value: Record<string, unknown>): string {
  const known = new Map(schemaKeys(schema).map((k) => [k.key, k.doc?.does ?? '']));
  // a named table ([targets.office]) is described as its kind ([targets.<name>])
  const asSchemaKey = (key: string) =>
    key
      .split('.')
      .reduce<string[]>((acc, part) => [...acc, known.has([...acc, RECORD_KEY].join('.')) ? RECORD_KEY : part], [])
      .join('.');
  const does = { get: (key: string) => known.get(key) ?? known.get(asSchemaKey(key)) };
  return tableLines(does, value, '').join('\n');
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

function tableLines(does: Describe, table: Record<string, unknown>, prefix: string): string[] {
  const entries = Object.entries(table).filter(([, v]) => v !== undefined);
  // TOML: a table's own keys come before the tables inside it
  const keys = entries
    .filter(([, v]) => !isTable(v))
    .flatMap(([k, v]) => [...comment(does.get(`${prefix}${k}`)), stringify({ [k]: v }).trim()]);
  const tables = entries
    .filter((e): e is [string, Record<string, unknown>] => isTable(e[1]))
    .flatMap(([k, v]) => {
      const name = `${prefix}${k}`;
      const inner = tableLines(does, v, `${name}.`);
      // a table holding only tables gets no header of its own ([retention] is its [retention.*])
      const header = Object.values(v).some((x) => x !== undefined && !isTable(x)) ? [`[${name}]`] : [];
      return ['', ...comment(does.get(name)), ...header, ...inner];
    });
  return [...keys, ...tables];
}

/** What a key does, as comment lines (the reference's Markdown marks taken out). */
function comment(text: string | undefined): string[] {
  if (!text) return [];
  const lines: string[] = [];
  let line = '#';
  for (const word of text.replaceAll('`', '').split(/\s+/)) {
    if (line.length + 1 + word.length > WIDTH && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}
