import * as z from 'zod/mini';

// Each key of a TOML file we read is described once, on its schema: what a message
// says it expects, how it is written, what it does and its default. Messages
// (problems.ts), the "did you mean" hints and docs/CONFIG.md are all made from it.

/** How one key is described; attached to the key's schema with `documented`. */
export interface KeyDoc {
  /** the type expected and its form, finishing "expected …": 'an array of layer names' */
  expects: string;
  /** how the key is written, e.g. 'layers = ["raid", "luks", "lvm"]' */
  example: string;
  /** what it does, for the reference (Markdown) */
  does: string;
  /** the default in words (Markdown), where the schema fills none in */
  default?: string;
  /** its value is never shown (a URL with a key) */
  secret?: boolean;
  /** an array's items: how each is described */
  item?: { expects: string; example: string };
}

const keyDocs = z.registry<KeyDoc>();

/** The schema, with its description. Each key needs a schema of its own (a wrapper such as z.optional is one). */
export function documented<T extends z.core.$ZodType>(schema: T, doc: KeyDoc): T {
  keyDocs.add(schema, doc);
  return schema;
}

/** One key as the schema holds it: `target.layers`, `sources[].name` (array items are `[]`). */
export interface KeyEntry {
  key: string;
  /** undefined: a key nobody described (a test refuses it) */
  doc: KeyDoc | undefined;
  /** the type, as the reference shows it: 'string', 'array of string or table' */
  type: string;
  /** what the schema fills in when the key is left out */
  schemaDefault?: unknown;
}

type Def = {
  type: string;
  shape?: Record<string, z.core.$ZodType>;
  innerType?: z.core.$ZodType;
  element?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  entries?: Record<string, unknown>;
  values?: unknown[];
  defaultValue?: unknown;
  format?: string;
  checks?: z.core.$ZodCheck[];
  valueType?: z.core.$ZodType;
};

/** How a table of tables names its key: `targets.<name>.mountpoint`. */
export const RECORD_KEY = '<name>';
const defOf = (s: z.core.$ZodType) => s._zod.def as unknown as Def;

/** Every key of an object schema, depth first in the schema's order; tables before their keys. */
export function schemaKeys(schema: z.core.$ZodType, prefix = ''): KeyEntry[] {
  const shape = defOf(schema).shape;
  if (!shape) return [];
  return Object.entries(shape).flatMap(([name, field]) => keyEntries(`${prefix}${name}`, field));
}

function keyEntries(key: string, field: z.core.$ZodType): KeyEntry[] {
  let doc = keyDocs.get(field);
  let schemaDefault: unknown;
  let s = field;
  for (let d = defOf(s); d.type === 'optional' || d.type === 'default'; d = defOf(s)) {
    if (d.type === 'default') schemaDefault = d.defaultValue;
    s = d.innerType!;
    doc ??= keyDocs.get(s);
  }
  const entry: KeyEntry = { key, doc, type: typeOf(s), ...(schemaDefault === undefined ? {} : { schemaDefault }) };
  const d = defOf(s);
  if (d.type === 'object') return [entry, ...schemaKeys(s, `${key}.`)];
  // a table of named tables ([targets.<name>]): the named table and its keys
  if (d.type === 'record') return [entry, ...keyEntries(`${key}.${RECORD_KEY}`, d.valueType!)];
  if (d.type !== 'array') return [entry];
  const item: KeyEntry = { key: `${key}[]`, doc: doc?.item && { ...doc.item, does: '' }, type: typeOf(d.element!) };
  // an item that may be a table: its keys are keys too (`sources[].path`)
  const tables = tablesIn(d.element!);
  return [entry, item, ...tables.flatMap((t) => schemaKeys(t, `${key}[].`))];
}

function tablesIn(s: z.core.$ZodType): z.core.$ZodType[] {
  const d = defOf(s);
  if (d.type === 'object') return [s];
  if (d.type === 'union') return d.options!.flatMap(tablesIn);
  return [];
}

/** The type in TOML's words. */
function typeOf(s: z.core.$ZodType): string {
  const d = defOf(s);
  switch (d.type) {
    case 'optional':
    case 'default':
      return typeOf(d.innerType!);
    case 'object':
    case 'record':
      return 'table';
    case 'array':
      return `array of ${typeOf(d.element!)}`;
    case 'union':
      return [...new Set(d.options!.map(typeOf))].join(' or ');
    case 'enum':
      return Object.values(d.entries!)
        .map((v) => JSON.stringify(v))
        .join(' | ');
    case 'literal':
      return d.values!.map((v) => JSON.stringify(v)).join(' | ');
    case 'number':
      // z.int() is a number of format safeint; z.number().check(z.int()) carries it as a check
      return [d, ...(d.checks ?? []).map((c) => c._zod.def as { format?: string })].some((x) =>
        x.format?.includes('int'),
      )
        ? 'integer'
        : 'number';
    default:
      return d.type;
  }
}
