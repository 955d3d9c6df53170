import { isUtf8 } from 'node:buffer';

// File names are bytes, not text: any byte but NUL and `/`. A name is carried as a
// string in which each byte that is not part of valid UTF-8 is the lone surrogate
// U+DC80+byte (Python's "surrogateescape"): valid UTF-8 never decodes to one, so the
// bytes come back exactly (`toBytes`), and every name stays a plain string in between.
// Pure.

const RAW = /[\uDC80-\uDCFF]/;

/** The name's bytes as a string, exact: valid UTF-8 decoded, every other byte escaped. */
export function fromBytes(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = validSequence(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i += 1;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** The bytes a name stands for (the inverse of `fromBytes`). */
export function toBytes(name: string): Buffer {
  if (!hasRawBytes(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    // a lone low surrogate: for..of yields a valid pair as one code point
    parts.push(c >= 0xdc80 && c <= 0xdcff ? Buffer.of(c - 0xdc00) : Buffer.from(ch, 'utf8'));
  }
  return Buffer.concat(parts);
}

/** Whether the name holds bytes that are not UTF-8 (and so cannot go to a program or fs call as a string). */
export function hasRawBytes(name: string): boolean {
  return (
    RAW.test(name) &&
    [...name].some((ch) => ch.length === 1 && ch.charCodeAt(0) >= 0xdc80 && ch.charCodeAt(0) <= 0xdcff)
  );
}

/** For fs calls: the string itself, or its exact bytes where a string would not do. */
export function fsPath(name: string): string | Buffer {
  return hasRawBytes(name) ? toBytes(name) : name;
}

/**
 * A name as a person (and a log, and --json) sees it: printable text as it is; a
 * backslash doubled; newline, tab and CR as \n \t \r; other control characters,
 * invisible direction marks and bytes that are not UTF-8 as \xHH (each byte). These
 * are bash's $'…' escapes: a name shown so is given back as $'…'.
 */
export function escapeName(name: string): string {
  let out = '';
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c >= 0xdc80 && c <= 0xdcff && ch.length === 1) out += hex(c - 0xdc00);
    else if (hidden(c)) out += [...Buffer.from(ch, 'utf8')].map(hex).join('');
    else out += ch;
  }
  return out;
}

const hex = (b: number) => `\\x${b.toString(16).padStart(2, '0')}`;

/** control characters, line and paragraph separators, bidirectional overrides, lone surrogates */
function hidden(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x2028 ||
    c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    (c >= 0xd800 && c <= 0xdfff)
  );
}

/** Length of the valid UTF-8 sequence at `i`, 0 if there is none (RFC 3629: no overlong forms, no surrogates, ≤ U+10FFFF). */
function validSequence(b: Buffer, i: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
