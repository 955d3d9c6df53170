import { schemaKeys, type KeyDoc } from './key-docs.js';
import { configSchema } from './schema.js';

// What each key of config.toml holds, as a person reads it: the type expected and an
// example, taken from the schema's own descriptions (schema.ts). Every schema problem
// is told in these words (zod's own say "Invalid input").

export type KeyInfo = Pick<KeyDoc, 'expects' | 'example' | 'secret'>;

/** Keys by their place: `target.layers`, `sources[].name` (array items are `[]`). */
export type KeyTable = Readonly<Record<string, KeyInfo>>;

/** The described keys of a schema, by their place. */
export function keyTable(schema: Parameters<typeof schemaKeys>[0]): KeyTable {
  return Object.fromEntries(schemaKeys(schema).flatMap((k): [string, KeyInfo][] => (k.doc ? [[k.key, k.doc]] : [])));
}

export const CONFIG_KEYS: KeyTable = keyTable(configSchema);

/** The table a key lives in, for "write it under [target]". */
export function tableOf(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  if (dot < 0 || key.slice(0, dot).includes('[]')) return undefined;
  return key.slice(0, dot);
}

/** The keys directly inside a table ('' = the top level). */
export function keysIn(table: KeyTable, parent: string): string[] {
  const prefix = parent === '' ? '' : `${parent}.`;
  return Object.keys(table)
    .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('.') && !k.endsWith('[]'))
    .map((k) => k.slice(prefix.length));
}
