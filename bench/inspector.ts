/** A node's DevTools protocol over its `--inspect=127.0.0.1:0` port (loopback
 *  only), for the benches: heap figures and CPU profiles of a running node. */

import { WebSocket } from 'ws';
import type { NodeProcess } from '../test/support/processes.ts';

/** The DevTools protocol of a node started with `--inspect=127.0.0.1:0` (loopback only): one request at a time. */
export class Inspector {
  #nextId = 0;

  private constructor(readonly socket: WebSocket) {}

  static async open(node: NodeProcess): Promise<Inspector> {
    const line = await node.waitFor(/^Debugger listening on ws:/);
    const socket = new WebSocket(line.msg.replace('Debugger listening on ', '').trim());
    await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
    return new Inspector(socket);
  }

  call<T = Record<string, unknown>>(method: string, params: object = {}): Promise<T> {
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      const onMessage = (data: Buffer): void => {
        const message = JSON.parse(String(data)) as { id?: number; result: T };
        if (message.id !== id) return;
        this.socket.off('message', onMessage);
        resolve(message.result);
      };
      this.socket.on('message', onMessage);
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Detaches (a node with a debugger attached would wait for it at exit). */
  close(): void {
    this.socket.close();
  }
}
