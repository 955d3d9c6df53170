// The verb line of `btrfs-vault serve` (docs/SERVER.md, protocol 1): the one thing a
// client's key may say, parsed here and never by a shell. Pure: the server parses with
// it and the client writes its lines with `verbLine`, so the two cannot disagree.

export const PROTOCOL = 1;
export const MAX_LINE_BYTES = 512;

/** a client's folder or backup name: no `/`, never `.`/`..`, no leading `-` or `.` */
export const NAME_RE = /^[A-Za-z0-9@_+][A-Za-z0-9@_+.=-]{0,127}$/;
/** a lowercase canonical UUID */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NONE = '-';
/** the link to the newest backup: never a name a client may give */
const RESERVED = 'latest';

export type ServeVerb =
  | { verb: 'hello' }
  | { verb: 'list'; folder?: string }
  /** a backup named `name` with received UUID `uuid`, incremental from the backup whose received UUID is `parent` */
  | { verb: 'receive'; folder: string; name: string; uuid: string; parent: string | null }
  /** the stream of backup `name`, incremental from the backup named `parent` */
  | { verb: 'send'; folder: string; name: string; parent: string | null }
  /** what each complete backup of `folder` holds at `path` (relative, UTF-8; base64url on the line) */
  | { verb: 'files'; folder: string; path: string };

export type ParsedVerb = { ok: true; verb: ServeVerb } | { ok: false; reason: string };

const ARITY: Record<ServeVerb['verb'], readonly [min: number, max: number]> = {
  hello: [0, 0],
  list: [0, 1],
  receive: [4, 4],
  send: [3, 3],
  files: [2, 2],
};

/** PATH on the line: base64url (RFC 4648 §5) without padding, of the path's UTF-8 bytes */
const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;

/**
 * A `files` PATH, decoded: relative to the backup, every component a name (no empty one,
 * no `.` or `..`), no NUL, valid UTF-8; its length is bounded by the line's.
 */
export function decodeServePath(word: string): { ok: true; path: string } | { ok: false; reason: string } {
  const refuse = (reason: string) => ({
    ok: false as const,
    reason: `PATH ${JSON.stringify(word.slice(0, 64))} ${reason}`,
  });
  if (!BASE64URL_RE.test(word)) return refuse('is not base64url (A-Z a-z 0-9 - _, no padding)');
  const bytes = Buffer.from(word, 'base64url');
  // one spelling per path: a line that does not re-encode to itself is not ours
  if (bytes.toString('base64url') !== word) return refuse('is not canonical base64url');
  const path = bytes.toString('utf8');
  if (!Buffer.from(path, 'utf8').equals(bytes)) return refuse('is not UTF-8');
  if (path.includes('\0')) return refuse('holds a NUL byte');
  if (path.startsWith('/')) return refuse('is absolute: it is relative to the backup');
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..'))
    return refuse('has an empty, "." or ".." component: it names a path inside the backup only');
  return { ok: true, path };
}

export function encodeServePath(path: string): string {
  return Buffer.from(path, 'utf8').toString('base64url');
}

export function isServeName(word: string): boolean {
  return NAME_RE.test(word) && word !== RESERVED;
}

/** Parses one verb line; anything outside the grammar is refused with the reason. */
export function parseVerbLine(line: string): ParsedVerb {
  const refuse = (reason: string): ParsedVerb => ({ ok: false, reason });
  if (line.length > MAX_LINE_BYTES) return refuse(`the line is longer than ${MAX_LINE_BYTES} bytes`);
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return refuse(`byte ${describeChar(c)} at ${i}: only printable ASCII is allowed`);
  }
  if (line === '') return refuse('the line is empty');
  const words = line.split(' ');
  if (words.some((w) => w === '')) return refuse('words are separated by exactly one space');
  const [verb, ...args] = words as [string, ...string[]];
  if (!Object.hasOwn(ARITY, verb)) return refuse(`unknown verb ${JSON.stringify(verb)}`);
  const v = verb as ServeVerb['verb'];
  const [min, max] = ARITY[v];
  if (args.length < min || args.length > max)
    return refuse(`${v} takes ${min === max ? min : `${min} to ${max}`} arguments, not ${args.length}`);
  const badName = (what: string, w: string) =>
    isServeName(w) ? undefined : `${what} ${JSON.stringify(w)} is not a name (${NAME_RE.source}, not "latest")`;
  const badUuid = (what: string, w: string, none: boolean) =>
    UUID_RE.test(w) || (none && w === NONE)
      ? undefined
      : `${what} ${JSON.stringify(w)} is not a lowercase UUID${none ? ' or -' : ''}`;
  const orNull = (w: string) => (w === NONE ? null : w);
  switch (v) {
    case 'hello':
      return { ok: true, verb: { verb: 'hello' } };
    case 'list': {
      if (args.length === 0) return { ok: true, verb: { verb: 'list' } };
      const why = badName('FOLDER', args[0]!);
      return why ? refuse(why) : { ok: true, verb: { verb: 'list', folder: args[0]! } };
    }
    case 'receive': {
      const [folder, name, uuid, parent] = args as [string, string, string, string];
      const why =
        badName('FOLDER', folder) ??
        badName('NAME', name) ??
        badUuid('UUID', uuid, false) ??
        badUuid('PARENT', parent, true);
      return why ? refuse(why) : { ok: true, verb: { verb: 'receive', folder, name, uuid, parent: orNull(parent) } };
    }
    case 'send': {
      const [folder, name, parent] = args as [string, string, string];
      const why =
        badName('FOLDER', folder) ?? badName('NAME', name) ?? (parent === NONE ? undefined : badName('PARENT', parent));
      return why ? refuse(why) : { ok: true, verb: { verb: 'send', folder, name, parent: orNull(parent) } };
    }
    case 'files': {
      const [folder, word] = args as [string, string];
      const why = badName('FOLDER', folder);
      if (why) return refuse(why);
      const path = decodeServePath(word);
      return path.ok ? { ok: true, verb: { verb: 'files', folder, path: path.path } } : refuse(path.reason);
    }
  }
}

/** The line a client sends for `verb` (what parseVerbLine reads back as the same verb). */
export function verbLine(verb: ServeVerb): string {
  switch (verb.verb) {
    case 'hello':
      return 'hello';
    case 'list':
      return verb.folder === undefined ? 'list' : `list ${verb.folder}`;
    case 'receive':
      return `receive ${verb.folder} ${verb.name} ${verb.uuid} ${verb.parent ?? NONE}`;
    case 'send':
      return `send ${verb.folder} ${verb.name} ${verb.parent ?? NONE}`;
    case 'files':
      return `files ${verb.folder} ${encodeServePath(verb.path)}`;
  }
}

function describeChar(c: number): string {
  if (c === 0) return 'NUL';
  if (c === 0x0a) return 'newline';
  return `0x${c.toString(16).padStart(2, '0')}`;
}
