/** The transport floor of `npm run bench -- replication`: the least any
 *  synchronously replicated server on Node must do per update, with nothing
 *  else — no store, clock, gate, validation or authentication. A `relay`
 *  process (the primary's place) reads length-prefixed requests from its
 *  clients, forwards each turn's requests to an `echo` process (the
 *  secondary's place) in one frame, and when that frame's acknowledgement
 *  comes back answers each request to its client, one write per client per
 *  turn. The bench process drives it with the same load generator, client
 *  batching (one write per connection per tick) and payloads as confstate, so
 *  the same hops cost what this machine makes them cost at that moment: read
 *  confstate's rows as a share of this one. Not a server: it trusts its input.
 *
 *  Frames: client → relay `[u32 length][u32 id][payload]`; relay → client
 *  `[u32 8][u32 id]`; relay → echo `[u32 length][u32 count][payloads]`;
 *  echo → relay `[u32 4][u32 count]`, one per forwarded frame. */

import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(import.meta.url);

/** Splits a byte stream into `[u32 length][body]` frames. */
class FrameReader {
  #pending: Buffer = Buffer.alloc(0);

  *frames(chunk: Buffer): Generator<Buffer> {
    let bytes = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (bytes.length >= 4) {
      const length = bytes.readUInt32BE(0);
      if (bytes.length < 4 + length) break;
      yield bytes.subarray(4, 4 + length);
      bytes = bytes.subarray(4 + length);
    }
    this.#pending = bytes;
  }
}

/** Collects bytes for one socket and writes them once, at the end of the turn. */
class TurnWriter {
  #parts: Buffer[] = [];
  #scheduled = false;

  constructor(readonly socket: net.Socket) {}

  push(bytes: Buffer): void {
    this.#parts.push(bytes);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const parts = this.#parts;
      this.#parts = [];
      this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    });
  }
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value, 0);
  return b;
}

/** A frame whose body is one u32 (an answer's id, an ack's count). */
function u32Frame(value: number): Buffer {
  return Buffer.concat([u32(4), u32(value)]);
}

/** Listens on a loopback port (told to the parent) and hands each frame a connection sends to `onFrame`, with that connection's writer. */
function serveFrames(onFrame: (frame: Buffer, out: TurnWriter) => void): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const reader = new FrameReader();
    const out = new TurnWriter(socket);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.frames(chunk)) onFrame(frame, out);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as net.AddressInfo).port));
}

function runEcho(): void {
  serveFrames((frame, out) => out.push(u32Frame(frame.readUInt32BE(0))));
}

function runRelay(echoPort: number): void {
  const peer = net.connect(echoPort, '127.0.0.1');
  peer.setNoDelay(true);
  const toPeer = new TurnWriter(peer);
  /** Requests forwarded and not yet acknowledged, oldest first: [client, id] pairs. */
  const waiting: (TurnWriter | number)[] = [];
  let head = 0;
  let batch: Buffer[] = [];
  let batchCount = 0;
  const flushBatch = (): void => {
    const body = Buffer.concat(batch);
    toPeer.push(Buffer.concat([u32(4 + body.length), u32(batchCount), body]));
    batch = [];
    batchCount = 0;
  };
  const ackReader = new FrameReader();
  peer.on('data', (chunk: Buffer) => {
    for (const ack of ackReader.frames(chunk)) {
      for (let count = ack.readUInt32BE(0); count > 0; count--) {
        const client = waiting[head++] as TurnWriter;
        const id = waiting[head++] as number;
        client.push(u32Frame(id));
      }
      if (head === waiting.length) waiting.length = head = 0;
    }
  });
  serveFrames((frame, out) => {
    waiting.push(out, frame.readUInt32BE(0));
    if (batchCount === 0) setImmediate(flushBatch);
    batch.push(Buffer.from(frame.subarray(4)));
    batchCount++;
  });
}

/** A client of the relay: requests made in one tick share one write, as ElementClient's do. */
export class FloorClient {
  readonly #answers = new Map<number, (ok: boolean) => void>();
  readonly #reader = new FrameReader();
  #nextId = 1;
  #batch: Buffer[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.#reader.frames(chunk)) {
        const id = frame.readUInt32BE(0);
        this.#answers.get(id)?.(true);
        this.#answers.delete(id);
      }
    });
    socket.on('close', () => {
      for (const resolve of this.#answers.values()) resolve(false);
      this.#answers.clear();
    });
  }

  static async connect(port: number): Promise<FloorClient> {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new FloorClient(socket);
  }

  /** Sends `key` and `value` (as JSON, like an update); resolves when the relay answers. */
  update(key: string, value: unknown): Promise<boolean> {
    const id = this.#nextId++;
    const payload = Buffer.from(`${key}\n${JSON.stringify(value)}`);
    const frame = Buffer.allocUnsafe(8 + payload.length);
    frame.writeUInt32BE(4 + payload.length, 0);
    frame.writeUInt32BE(id, 4);
    payload.copy(frame, 8);
    if (this.#batch.length === 0) {
      process.nextTick(() => {
        const parts = this.#batch;
        this.#batch = [];
        this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      });
    }
    this.#batch.push(frame);
    return new Promise((resolve) => this.#answers.set(id, resolve));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Starts echo and relay as child processes; `port` is the relay's. */
export async function startFloor(): Promise<{ port: number; pids: Record<string, number>; stop: () => void }> {
  const start = async (args: string[]): Promise<{ child: ChildProcess; port: number }> => {
    const child = fork(ENTRY, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(m as number));
      child.once('exit', (code) => reject(new Error(`the floor's ${args[0]} exited (${code})`)));
    });
    return { child, port };
  };
  const echo = await start(['echo']);
  const relay = await start(['relay', String(echo.port)]);
  return {
    port: relay.port,
    pids: { 'floor relay': relay.child.pid!, 'floor echo': echo.child.pid! },
    stop: () => {
      relay.child.kill();
      echo.child.kill();
    },
  };
}

if (process.argv[1] === ENTRY) {
  process.on('disconnect', () => process.exit(0));
  if (process.argv[2] === 'echo') runEcho();
  else if (process.argv[2] === 'relay') runRelay(Number(process.argv[3]));
}
