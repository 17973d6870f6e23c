/** What the page shows of its signalling connection: state, server, and
 *  whether that server is the primary — which the SDK's `welcome` tells only
 *  at connect time. Pure: no DOM, tested in Node (test/web/page-logic.test.ts). */

import type { ConnectionState, ConnectionStatus } from '../../src/client/conference-client.ts';

export interface ConnectionInfo {
  readonly state: ConnectionState;
  /** host:port of the server connected to, or being tried. */
  readonly server: string;
  /** What that server is now; null while not connected or not known (its role changed since it welcomed us). */
  readonly nodeRole: 'primary' | 'secondary' | null;
  /** The latest connection went to another server than the one before it because that one went away. */
  readonly failedOver: boolean;
  readonly problem: string | null;
}

/** `127.0.0.1:7480` of `ws://127.0.0.1:7480/v1/ws` or `http://127.0.0.1:7480`: how the page names a server. */
export function hostOf(url: string | null): string {
  if (url === null) return '';
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The epoch in a stream id (`{instance}-e{epoch}-{n}`, docs/API.md), or undefined. */
export function streamEpochOf(stream: string | undefined): number | undefined {
  const match = /-e(\d+)-\d+$/.exec(stream ?? '');
  return match === null ? undefined : Number(match[1]);
}

/**
 * The connection as shown. `confirmedPrimary`: a command succeeded on this
 * connection since the stream's epoch last changed, so the server is the
 * primary whatever its welcome said. Otherwise the welcome's role holds
 * while the stream's epoch is the welcome's; once it differs the server was
 * promoted or demoted since, and its role is unknown until a command tells.
 */
export function connectionInfo(status: ConnectionStatus, streamEpoch: number | undefined, confirmedPrimary: boolean): ConnectionInfo {
  const node = status.state === 'connected' ? status.node : null;
  let nodeRole: ConnectionInfo['nodeRole'] = null;
  if (node !== null) nodeRole = confirmedPrimary ? 'primary' : streamEpoch === undefined || streamEpoch === node.epoch ? node.role : null;
  return {
    state: status.state,
    server: hostOf(status.url),
    nodeRole,
    // A move the server asked for (not_primary: the page came from the secondary) is a redirect, not a failover.
    failedOver: status.failedOver && status.lastError?.code !== 'not_primary',
    problem: status.lastError?.message ?? null,
  };
}
