/** The real conference server (src/server) for SDK tests: a primary over a
 *  MemoryStateNode, optionally a second node whose store follows the
 *  primary's (replication emulated in this process, so a test can promote it
 *  the way a failover would), and HS256 tokens minted synchronously. Listens
 *  on 127.0.0.1 only. */

import { createHmac } from 'node:crypto';
import type { NodeInfo } from '../../src/conference/api.ts';
import type { Role } from '../../src/conference/model.ts';
import { type StartedServer, startServer } from '../../src/server/app.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { SECRET, testConfig } from '../server/support.ts';

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** A participant token (or a service token with session `*`) signed HS256 with the test secret, valid for an hour. */
export function mintToken(participant: string, session: string, role: Role = 'participant'): string {
  const nowS = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ sub: participant, session, role, iat: nowS, exp: nowS + 3600 }));
  const signature = createHmac('sha256', SECRET).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

export interface RealNode {
  readonly node: MemoryStateNode;
  readonly server: StartedServer;
  /** The WebSocket URL the SDK dials. */
  readonly url: string;
}

/** Starts the server over `node` on an ephemeral port. */
export async function startReal(node: MemoryStateNode, limits: Parameters<typeof testConfig>[0] = {}): Promise<RealNode> {
  const server = await startServer({ node, config: testConfig(limits), listen: { host: '127.0.0.1', port: 0 } });
  return { node, server, url: `${server.url.replace(/^http/, 'ws')}/v1/ws` };
}

/** A primary, and a secondary whose store applies every change the primary applies (what replication would do). */
export async function startRealPair(): Promise<{ primary: RealNode; secondary: RealNode; close(): Promise<void> }> {
  const primary = await startReal(new MemoryStateNode({ nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null }));
  const secondaryNode = new MemoryStateNode({ nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: primary.server.url });
  const stopFollowing = primary.node.onChange((change) => {
    secondaryNode.store.apply(change.key, change.value, change.ts, change.value === null);
  });
  const secondary = await startReal(secondaryNode);
  return {
    primary,
    secondary,
    close: async () => {
      stopFollowing();
      await Promise.all([primary.server.close(), secondary.server.close()]);
    },
  };
}

/** The node becomes the primary under the next epoch (what a failover does); its server tells its subscribers. */
export function promote(real: RealNode): void {
  const info: NodeInfo = { ...real.node.info, role: 'primary', epoch: real.node.info.epoch + 1, primaryUrl: null };
  (real.node as { info: NodeInfo }).info = info;
  real.server.hub.checkEpoch();
}
