import type * as z from 'zod/mini';
import { RECORD_KEY } from './key-docs.js';
import { keysIn, tableOf, type KeyTable } from './keys.js';

// Turns schema issues into problems a person can act on: the key, the value found,
// the type expected and how to write it. Each problem's second line is its fix.

/** One problem: where, what happened, and the fix on a line of its own. */
export function problem(where: string, what: string, fix: string): string {
  return `${where}: ${what}\n    fix: ${fix.replaceAll('\n', '\n      ')}`;
}

export interface Docs {
  keys: KeyTable;
  /** the README section that documents these keys, e.g. 'README, "Configuration"' */
  section: string;
}

export function schemaProblems(file: string, data: unknown, issues: readonly z.core.$ZodIssue[], docs: Docs): string[] {
  // zod still runs a string's length check on an array it found instead: the wrong type is the one problem there
  const wrongType = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => labelOf(i.path)));
  return issues
    .filter((i) => i.code === 'invalid_type' || !wrongType.has(labelOf(i.path)))
    .flatMap((issue) => issueProblems(file, data, issue, [], docs));
}

type Segment = PropertyKey;

function issueProblems(
  file: string,
  data: unknown,
  issue: z.core.$ZodIssue,
  base: readonly Segment[],
  docs: Docs,
): string[] {
  const path = [...base, ...issue.path];
  const label = labelOf(path);
  const key = keyOf(path, docs.keys);
  const info = docs.keys[key];
  const value = valueAt(data, path);
  // a secret (a URL with a key) is named, never shown
  const shown = info?.secret ? '(not shown: a secret)' : show(value);
  const howTo = (k: string) => {
    const i = docs.keys[k];
    if (!i) return `see ${docs.section}`;
    const table = tableOf(k);
    return `${table ? `under [${table}], write` : 'write'} it like this: ${i.example} (${docs.section})`;
  };

  switch (issue.code) {
    case 'unrecognized_keys': {
      const table = key === '' ? '' : key;
      const known = keysIn(docs.keys, table);
      return issue.keys.map((k) => {
        const near = closest(k, known);
        return problem(
          file,
          `${table === '' ? '' : table.endsWith('[]') ? `${label}: ` : `[${label}] `}unknown key ${k}`,
          `${near ? `did you mean ${near}? ` : ''}remove it or check its spelling; the keys here are ${known.join(', ')} (${docs.section})`,
        );
      });
    }
    case 'invalid_union': {
      // a table in `sources` that is wrong inside: report its own problems, not "not a string"
      const branch = issue.errors.find((errs) => !errs.some((e) => e.code === 'invalid_type' && e.path.length === 0));
      if (branch) return branch.flatMap((e) => issueProblems(file, data, e, path, docs));
      return [
        problem(
          file,
          `${label} = ${shown} is ${typeName(value)}; expected ${info?.expects ?? 'another type'}`,
          howTo(key),
        ),
      ];
    }
    case 'invalid_type':
      if (value === undefined) {
        return [problem(file, `${label} is missing; expected ${info?.expects ?? 'a value'}`, howTo(key))];
      }
      return [
        problem(
          file,
          `${label} = ${shown} is ${typeName(value)}; expected ${info?.expects ?? issue.expected}`,
          howTo(key),
        ),
      ];
    case 'invalid_value':
      return [
        problem(
          file,
          `${label} = ${shown} is not allowed; expected ${info?.expects ?? issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
          howTo(key),
        ),
      ];
    default:
      // the schema's own checks: their messages say what is wrong ("must not be empty")
      return [
        problem(file, `${label} = ${shown} ${issue.message}; expected ${info?.expects ?? 'another value'}`, howTo(key)),
      ];
  }
}

/** `target.layers`, `sources[2].name` */
export function labelOf(path: readonly Segment[]): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc === '' ? String(seg) : `${acc}.${String(seg)}`),
    '',
  );
}

function keyOf(path: readonly Segment[], keys: KeyTable): string {
  // a named table's name is its table's `<name>` (`targets.office.mountpoint` is `targets.<name>.mountpoint`)
  const named = path.map((s, i) =>
    typeof s === 'string' && i > 0 && keys[`${keyOf(path.slice(0, i), keys)}.${RECORD_KEY}`] ? RECORD_KEY : s,
  );
  return labelOf(named.map((s) => (typeof s === 'number' ? 0 : s))).replaceAll('[0]', '[]');
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** TOML's names for what was found. */
export function typeName(v: unknown): string {
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return 'an integer';
  if (typeof v === 'number') return 'a float';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (v === undefined) return 'missing';
  return 'a table';
}

/** A short rendering of a value for a message, safe to print on one line. */
export function show(v: unknown): string {
  let text: string;
  if (v instanceof Date) text = v.toISOString();
  else if (Array.isArray(v)) text = `[${v.map(show).join(', ')}]`;
  else if (typeof v === 'bigint') text = String(v);
  else if (v !== null && typeof v === 'object')
    text = `{ ${Object.entries(v)
      .map(([k, x]) => `${k} = ${show(x)}`)
      .join(', ')} }`;
  else text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The known key a typo most likely meant: one it begins (or that begins it), else one slip away. */
function closest(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const prefix = w.length >= 3 ? known.find((k) => k.startsWith(w) || w.startsWith(k)) : undefined;
  if (prefix) return prefix;
  const slips = Math.max(1, Math.floor(w.length / 4));
  let best: string | undefined;
  let bestDistance = slips + 1;
  for (const k of known) {
    const d = editDistance(w, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Optimal string alignment distance: a swap of two neighbours is one slip, as typing makes it. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
