/** A TCP fault proxy for process-level tests: listens on loopback, forwards
 *  every connection to one target, and injects the faults TCP has — added
 *  delay per direction, blackholes (bytes held, one direction or both), cuts
 *  (every connection reset). It knows nothing of the protocol it carries. */

import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** `toTarget`: from the connecting side to the target; `toClient`: back. */
export type ProxyDirection = 'toTarget' | 'toClient';
export type ProxyDirections = ProxyDirection | 'both';

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Only loopback: 127.0.0.1 (default) or ::1. */
  readonly listenHost?: '127.0.0.1' | '::1';
  /** Bytes held per direction of one connection before its sender is paused (TCP backpressure). */
  readonly heldBytesMax?: number;
}

/** What the proxy has carried: forwarded bytes per direction, and connections. */
export interface ProxyCounts {
  connectionsAccepted: number;
  connectionsReset: number;
  bytesToTarget: number;
  bytesToClient: number;
}

const HELD_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

/** A chunk of bytes, an orderly end, or a reset: each travels in order and obeys delay and blackhole. */
type Item = { readonly arrivedMs: number; readonly what: Buffer | 'end' | 'reset' };

/** One direction of one connection: bytes read from `source` wait here until they may be written to `sink`. */
class Stream {
  readonly items: Item[] = [];
  heldBytes = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** The source ended or reset: nothing more comes from it. */
  finished = false;
  constructor(
    readonly direction: ProxyDirection,
    readonly source: net.Socket,
    readonly sink: net.Socket,
  ) {}
}

class Link {
  readonly toTarget: Stream;
  readonly toClient: Stream;
  /** Reset by a cut: every later event of its sockets is ignored. */
  dead = false;
  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    this.toTarget = new Stream('toTarget', client, upstream);
    this.toClient = new Stream('toClient', upstream, client);
  }
}

export class FaultProxy {
  readonly counts: ProxyCounts = { connectionsAccepted: 0, connectionsReset: 0, bytesToTarget: 0, bytesToClient: 0 };
  readonly #server: net.Server;
  readonly #options: FaultProxyOptions;
  readonly #links = new Set<Link>();
  readonly #delayMs: Record<ProxyDirection, number> = { toTarget: 0, toClient: 0 };
  readonly #blackholed: Record<ProxyDirection, boolean> = { toTarget: false, toClient: false };
  #cut = false;
  #port = 0;

  private constructor(server: net.Server, options: FaultProxyOptions) {
    this.#server = server;
    this.#options = options;
  }

  /** Starts listening on a free loopback port. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = net.createServer({ allowHalfOpen: true });
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, options.listenHost ?? '127.0.0.1', () => resolve());
    });
    proxy.#port = (server.address() as net.AddressInfo).port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** `host:port` to give a client or a node instead of the target's. */
  get address(): string {
    const host = this.#options.listenHost ?? '127.0.0.1';
    return host.includes(':') ? `[${host}]:${this.#port}` : `${host}:${this.#port}`;
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.#links.size;
  }

  /** Bytes read and not yet forwarded, over every connection and direction. */
  get heldBytes(): number {
    let total = 0;
    for (const link of this.#links) total += link.toTarget.heldBytes + link.toClient.heldBytes;
    return total;
  }

  /** Every byte (and end, and reset) in `directions` waits `ms` more before it is forwarded. */
  delay(directions: ProxyDirections, ms: number): void {
    for (const direction of expand(directions)) this.#delayMs[direction] = ms;
    this.#pumpAll();
  }

  /** Holds everything read in `directions` — bytes, ends, resets — until heal(). Connections are still accepted. */
  blackhole(directions: ProxyDirections): void {
    for (const direction of expand(directions)) this.#blackholed[direction] = true;
  }

  /** Resets every open connection on both sides, and every new one until heal(). */
  cut(): void {
    this.#cut = true;
    for (const link of [...this.#links]) this.#reset(link);
  }

  /** Lifts every fault: held bytes go out in order, delays drop to 0, new connections pass. */
  heal(): void {
    this.#cut = false;
    this.#blackholed.toTarget = this.#blackholed.toClient = false;
    this.#delayMs.toTarget = this.#delayMs.toClient = 0;
    this.#pumpAll();
  }

  /** Stops listening and resets every connection. */
  async close(): Promise<void> {
    for (const link of [...this.#links]) this.#reset(link);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.counts.connectionsAccepted++;
    client.on('error', () => undefined);
    if (this.#cut) {
      this.counts.connectionsReset++;
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const { host, port } = this.#options.target;
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    upstream.setNoDelay(true);
    upstream.on('error', () => undefined);
    const link = new Link(client, upstream);
    this.#links.add(link);
    this.#read(link, link.toTarget);
    this.#read(link, link.toClient);
  }

  /** Moves what `stream.source` sends into the stream's queue. */
  #read(link: Link, stream: Stream): void {
    const max = this.#options.heldBytesMax ?? HELD_BYTES_MAX_DEFAULT;
    const push = (what: Item['what']): void => {
      if (link.dead || stream.finished) return;
      if (what === 'end' || what === 'reset') stream.finished = true;
      stream.items.push({ arrivedMs: performance.now(), what });
      this.#pump(link, stream);
    };
    stream.source.on('data', (chunk: Buffer) => {
      stream.heldBytes += chunk.length;
      if (stream.heldBytes > max) stream.source.pause();
      push(chunk);
    });
    stream.source.on('end', () => push('end'));
    // A close without an end (refused, reset, destroyed) reaches the other side as a reset.
    stream.source.on('close', () => push('reset'));
  }

  #pumpAll(): void {
    for (const link of this.#links) {
      this.#pump(link, link.toTarget);
      this.#pump(link, link.toClient);
    }
  }

  /** Forwards what is due in `stream`, in order, unless its direction is blackholed; arms a timer for the rest. */
  #pump(link: Link, stream: Stream): void {
    if (stream.timer !== undefined) clearTimeout(stream.timer);
    stream.timer = undefined;
    if (link.dead || this.#blackholed[stream.direction]) return;
    const delayMs = this.#delayMs[stream.direction];
    while (stream.items.length > 0) {
      const item = stream.items[0]!;
      const waitMs = item.arrivedMs + delayMs - performance.now();
      if (waitMs > 0) {
        stream.timer = setTimeout(() => this.#pump(link, stream), Math.ceil(waitMs));
        return;
      }
      stream.items.shift();
      this.#forward(link, stream, item.what);
      if (link.dead) return;
    }
  }

  #forward(link: Link, stream: Stream, what: Item['what']): void {
    const sink = stream.sink;
    if (what === 'reset') return this.#reset(link);
    if (what === 'end') {
      if (!sink.destroyed) sink.end();
      if (link.toTarget.finished && link.toClient.finished && link.toTarget.items.length === 0 && link.toClient.items.length === 0) this.#links.delete(link);
      return;
    }
    stream.heldBytes -= what.length;
    if (stream.source.isPaused() && stream.heldBytes <= (this.#options.heldBytesMax ?? HELD_BYTES_MAX_DEFAULT) / 2) stream.source.resume();
    if (stream.direction === 'toTarget') this.counts.bytesToTarget += what.length;
    else this.counts.bytesToClient += what.length;
    if (!sink.destroyed) sink.write(what);
  }

  /** Resets both sockets of `link` and forgets what it held. */
  #reset(link: Link): void {
    if (link.dead) return;
    link.dead = true;
    this.counts.connectionsReset++;
    this.#links.delete(link);
    for (const stream of [link.toTarget, link.toClient]) {
      if (stream.timer !== undefined) clearTimeout(stream.timer);
      stream.items.length = 0;
      stream.heldBytes = 0;
    }
    for (const socket of [link.client, link.upstream]) if (!socket.destroyed) socket.resetAndDestroy();
  }
}

function expand(directions: ProxyDirections): ProxyDirection[] {
  return directions === 'both' ? ['toTarget', 'toClient'] : [directions];
}
