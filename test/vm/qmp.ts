import { connect, type Socket } from 'node:net';

// A minimal client of qemu's machine protocol (QMP) on a unix socket: one command at
// a time, replies in order, events collected so a caller can wait for one (e.g. the
// guest's acknowledgement of a hot-unplug, DEVICE_DELETED).

interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

export class Qmp {
  private buffer = '';
  private readonly waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private readonly events: QmpEvent[] = [];
  private readonly eventWaiters: { match: (e: QmpEvent) => boolean; resolve: () => void }[] = [];
  private greeted?: () => void;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('QMP connection closed')));
  }

  /** Connects (qemu may still be creating the socket), reads the greeting, enters command mode. */
  static async connect(path: string, timeoutMs = 30_000): Promise<Qmp> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path, () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new Qmp(socket);
        await new Promise<void>((r) => (qmp.greeted = r));
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (err) {
        if (Date.now() > end) throw new Error(`QMP socket ${path}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
    });
  }

  /** Resolves when an event matching `match` has come (also one that came before). */
  waitForEvent(match: (e: QmpEvent) => boolean, timeoutMs: number, what: string): Promise<void> {
    const seen = this.events.findIndex(match);
    if (seen >= 0) {
      this.events.splice(seen, 1);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`QMP: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.eventWaiters.push({ match, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as {
        QMP?: unknown;
        return?: unknown;
        error?: { desc: string };
        event?: string;
        data?: Record<string, unknown>;
      };
      if (msg.QMP) this.greeted?.();
      else if (msg.event) this.event({ event: msg.event, data: msg.data });
      else if ('return' in msg) this.waiting.shift()?.resolve(msg.return);
      else if (msg.error) this.waiting.shift()?.reject(new Error(`QMP: ${msg.error.desc}`));
    }
  }

  private event(e: QmpEvent): void {
    const i = this.eventWaiters.findIndex((w) => w.match(e));
    if (i >= 0) this.eventWaiters.splice(i, 1)[0]!.resolve();
    else this.events.push(e);
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}
