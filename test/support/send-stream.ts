import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StreamGuard, type StreamExpectation } from '../../src/btrfs/stream-guard.js';

// Crafted btrfs send streams (the format of btrfs-progs common/send-stream.c), for the
// stream guard's tests: what a hostile client could send. The crc is left 0: the guard
// does not read it (receive does).

export const CMD = {
  subvol: 1,
  snapshot: 2,
  mkfile: 3,
  mkdir: 4,
  symlink: 8,
  rename: 9,
  link: 10,
  write: 15,
  clone: 16,
  end: 21,
} as const;
export const ATTR = {
  uuid: 1,
  ctransid: 2,
  ino: 3,
  path: 15,
  pathTo: 16,
  pathLink: 17,
  fileOffset: 18,
  data: 19,
  cloneUuid: 20,
  cloneCtransid: 21,
  clonePath: 22,
  cloneOffset: 23,
  cloneLen: 24,
} as const;

export type Attr = [type: number, value: Buffer | string];

export function streamHeader(version = 1): Buffer {
  const b = Buffer.alloc(17);
  b.write('btrfs-stream\0', 0, 'latin1');
  b.writeUInt32LE(version, 13);
  return b;
}

/** one command; in version 2 a DATA attribute goes last, without its length */
export function streamCommand(cmd: number, attrs: Attr[], version = 1): Buffer {
  const parts = attrs.map(([type, value]) => {
    const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    if (version >= 2 && type === ATTR.data) {
      const h = Buffer.alloc(2);
      h.writeUInt16LE(type, 0);
      return Buffer.concat([h, v]);
    }
    const h = Buffer.alloc(4);
    h.writeUInt16LE(type, 0);
    h.writeUInt16LE(v.length, 2);
    return Buffer.concat([h, v]);
  });
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(10);
  h.writeUInt32LE(body.length, 0);
  h.writeUInt16LE(cmd, 4);
  return Buffer.concat([h, body]);
}

export function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

export function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n), 0);
  return b;
}

export interface GuardResult {
  out: Buffer;
  error?: Error;
}

/** the stream through the guard, in chunks of the given sizes (cycled) */
export async function throughGuard(
  stream: Buffer,
  expect: StreamExpectation,
  chunkSizes: readonly number[] = [65536],
): Promise<GuardResult> {
  const chunks: Buffer[] = [];
  for (let p = 0, i = 0; p < stream.length; i++) {
    const n = chunkSizes[i % chunkSizes.length]!;
    chunks.push(stream.subarray(p, p + n));
    p += n;
  }
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk);
      done();
    },
  });
  try {
    await pipeline(Readable.from(chunks), new StreamGuard(expect), sink);
    return { out: Buffer.concat(out) };
  } catch (error) {
    return { out: Buffer.concat(out), error: error as Error };
  }
}
