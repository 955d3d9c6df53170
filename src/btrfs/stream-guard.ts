import { Transform, type TransformCallback } from 'node:stream';
import { RemoteRefusedError } from '../core/errors.js';

// `btrfs receive` trusts its stream: a crafted one writes outside its folder (`..`), or
// finds a parent or clone source by UUID anywhere on the filesystem, another host's
// too. The server passes a client's stream through this guard, which parses every
// command (btrfs-progs common/send-stream.c: header `btrfs-stream\0` + u32 version; each
// command u32 length, u16 command, u32 crc32c, then TLVs u16 type, u16 length, except
// that from version 2 on a DATA attribute runs to the end of its command) and lets a
// command's bytes through, unchanged, only once the whole command is checked. Data is
// not interpreted; the crc is receive's to check (it reads exactly these bytes).

export interface StreamExpectation {
  /** the subvolume's name: the stream's first command must create exactly this */
  name: string;
  /** the UUID the received subvolume gets (the client snapshot's) */
  uuid: string;
  /** the parent's UUID for an incremental stream, null for a full one */
  parent: string | null;
}

export interface StreamSummary {
  version: number;
  commands: number;
  /** bytes let through */
  bytes: number;
}

const MAGIC = Buffer.from('btrfs-stream\0', 'latin1');
const HEADER_LEN = MAGIC.length + 4;
const CMD_HEADER_LEN = 10;
/** the end command: a header without attributes */
const END_LEN = CMD_HEADER_LEN;
/** v1 commands are at most 64 KiB; v2's encoded writes a compressed extent (128 KiB) more: far below this */
const MAX_COMMAND = 16 * 1024 * 1024;

const C = {
  SUBVOL: 1,
  SNAPSHOT: 2,
  SYMLINK: 8,
  RENAME: 9,
  LINK: 10,
  CLONE: 16,
  END: 21,
  MAX_V1: 22,
  MAX_V2: 25,
} as const;
const A = {
  UUID: 1,
  PATH: 15,
  PATH_TO: 16,
  PATH_LINK: 17,
  DATA: 19,
  CLONE_UUID: 20,
  CLONE_PATH: 22,
  /** verity's attributes (version 3) end at 35 */
  MAX: 35,
} as const;

/** A pass-through that refuses (an error, exit 3) a stream that is not the one announced. */
export class StreamGuard extends Transform {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private version = 0;
  private commands = 0;
  private passed = 0;
  private ended = false;
  private heldEnd?: Buffer;

  constructor(private readonly expect: StreamExpectation) {
    super();
  }

  summary(): StreamSummary {
    return { version: this.version, commands: this.commands, bytes: this.passed };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.consume(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (!this.ended || this.pendingLen > 0 || !this.heldEnd)
      return done(
        refused(
          this.version === 0
            ? 'the stream ended before its header'
            : `the stream ended after ${this.commands} commands without its end command`,
        ),
      );
    this.passed += this.heldEnd.length;
    this.push(this.heldEnd);
    done();
  }

  private consume(chunk: Buffer): void {
    if (this.ended && chunk.length > 0) throw refused('bytes follow the end command (a second stream?)');
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    while (this.pendingLen >= this.needed()) {
      const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
      const used = this.parse(buf);
      // the end command waits for the end of the input: receive finishes a subvolume at
      // it, so it goes only once nothing follows it
      const pass = this.ended ? used - END_LEN : used;
      if (pass > 0) {
        this.passed += pass;
        this.push(buf.subarray(0, pass));
      }
      if (this.ended) this.heldEnd = Buffer.from(buf.subarray(pass, used));
      const rest = buf.subarray(used);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingLen = rest.length;
      if (this.ended && this.pendingLen > 0) throw refused('bytes follow the end command (a second stream?)');
      if (this.ended || used === 0) break;
    }
  }

  /** the bytes the next step needs in one piece: the header, a command's header, or the whole command */
  private needed(): number {
    if (this.version === 0) return HEADER_LEN;
    if (this.pendingLen < CMD_HEADER_LEN) return CMD_HEADER_LEN;
    const first = this.pending[0]!;
    const len = first.length >= 4 ? first.readUInt32LE(0) : Buffer.concat(this.pending).readUInt32LE(0);
    // refused before it is buffered: a length is the client's word
    if (len > MAX_COMMAND) throw refused(`a command of ${len} bytes (at most ${MAX_COMMAND})`);
    return CMD_HEADER_LEN + len;
  }

  /** checks every whole command at the start of buf; returns the bytes checked */
  private parse(buf: Buffer): number {
    let p = 0;
    if (this.version === 0) {
      if (buf.length < HEADER_LEN) return 0;
      if (!buf.subarray(0, MAGIC.length).equals(MAGIC))
        throw refused('it does not start with a btrfs send stream header');
      const version = buf.readUInt32LE(MAGIC.length);
      if (version !== 1 && version !== 2) throw refused(`send stream version ${version} (1 and 2 are known)`);
      this.version = version;
      p = HEADER_LEN;
    }
    while (!this.ended && buf.length - p >= CMD_HEADER_LEN) {
      const len = buf.readUInt32LE(p);
      if (len > MAX_COMMAND) throw refused(`a command of ${len} bytes (at most ${MAX_COMMAND})`);
      if (buf.length - p < CMD_HEADER_LEN + len) break;
      this.check(buf.readUInt16LE(p + 4), buf.subarray(p + CMD_HEADER_LEN, p + CMD_HEADER_LEN + len));
      p += CMD_HEADER_LEN + len;
    }
    return p;
  }

  private check(cmd: number, body: Buffer): void {
    const n = ++this.commands;
    const max = this.version === 1 ? C.MAX_V1 : C.MAX_V2;
    if (cmd === 0 || cmd > max) throw refused(`command ${n} has type ${cmd}, unknown in version ${this.version}`);
    const attrs = this.attributes(body, n);
    const { name, uuid, parent } = this.expect;
    if (n === 1) {
      if (cmd !== C.SUBVOL && cmd !== C.SNAPSHOT) throw refused(`its first command (type ${cmd}) creates no subvolume`);
      if (cmd === C.SUBVOL && parent !== null)
        throw refused('it is a full stream, but an incremental one (from PARENT) was announced');
      if (cmd === C.SNAPSHOT && parent === null)
        throw refused('it is an incremental stream, but a full one (PARENT -) was announced');
      const path = text(attrs, A.PATH);
      if (path !== name) throw refused(`it creates the subvolume ${JSON.stringify(path)}, not ${JSON.stringify(name)}`);
      const got = uuidOf(attrs, A.UUID);
      if (got !== uuid) throw refused(`its subvolume has UUID ${got}, not the announced ${uuid}`);
      if (cmd === C.SNAPSHOT) {
        const from = uuidOf(attrs, A.CLONE_UUID);
        if (from !== parent) throw refused(`it is a snapshot of ${from}, not of the announced parent ${parent}`);
      }
      return;
    }
    if (cmd === C.SUBVOL || cmd === C.SNAPSHOT) throw refused(`command ${n} creates a second subvolume`);
    if (cmd === C.END) {
      if (body.length > 0) throw refused(`its end command (command ${n}) carries attributes`);
      this.ended = true;
      return;
    }
    for (const a of [A.PATH, A.PATH_TO, A.CLONE_PATH]) checkPath(attrs, a, n);
    // a symlink's PATH_LINK is its target, any text; a hard link's is a path in the subvolume
    if (cmd === C.LINK) checkPath(attrs, A.PATH_LINK, n);
    if (cmd === C.CLONE) {
      const from = uuidOf(attrs, A.CLONE_UUID);
      if (from !== uuid && from !== parent)
        throw refused(`command ${n} clones from subvolume ${from}, neither this backup nor its parent`);
    }
  }

  /** each attribute once (receive keeps the last of a repeated one: refused, not guessed) */
  private attributes(body: Buffer, n: number): Map<number, Buffer> {
    const attrs = new Map<number, Buffer>();
    let p = 0;
    while (p < body.length) {
      if (body.length - p < 2) throw refused(`command ${n} is truncated`);
      const type = body.readUInt16LE(p);
      p += 2;
      if (type === 0 || type > A.MAX) throw refused(`command ${n} has an attribute of type ${type}`);
      let len: number;
      if (this.version >= 2 && type === A.DATA) len = body.length - p;
      else {
        if (body.length - p < 2) throw refused(`command ${n} is truncated`);
        len = body.readUInt16LE(p);
        p += 2;
      }
      if (body.length - p < len) throw refused(`command ${n} is truncated`);
      if (attrs.has(type)) throw refused(`command ${n} has attribute ${type} twice`);
      attrs.set(type, body.subarray(p, p + len));
      p += len;
    }
    return attrs;
  }
}

function refused(why: string): RemoteRefusedError {
  return new RemoteRefusedError(
    `the send stream was refused: ${why}`,
    'stream',
    'send the stream btrfs send makes of the snapshot the verb line names (the client: btrfs-vault backup)',
  );
}

function text(attrs: Map<number, Buffer>, type: number): string | undefined {
  return attrs.get(type)?.toString('latin1');
}

function uuidOf(attrs: Map<number, Buffer>, type: number): string {
  const b = attrs.get(type);
  if (!b || b.length !== 16) return '(none)';
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** inside the subvolume: relative, no `..` component, no NUL (receive would cut the name there) */
function checkPath(attrs: Map<number, Buffer>, type: number, n: number): void {
  const b = attrs.get(type);
  if (b === undefined) return;
  if (b.includes(0)) throw refused(`command ${n} has a path with a NUL byte`);
  if (b[0] === 0x2f) throw refused(`command ${n} has an absolute path ${JSON.stringify(b.toString('latin1'))}`);
  if (b.toString('latin1').split('/').includes('..'))
    throw refused(`command ${n} has a path with "..": ${JSON.stringify(b.toString('latin1'))}`);
}
