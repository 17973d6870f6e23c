/** The connection to the signalling server, always visible: connected (to
 *  which server, and whether it is the primary), reconnecting, failed over,
 *  disconnected. Read out politely when it changes (role=status). */

import type { ConnectionInfo } from '../meeting.ts';
import { html } from './html.ts';

const LABELS = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', closed: 'Disconnected' } as const;

export function ConnectionStatus({ connection }: { connection: ConnectionInfo }) {
  const { state, server, nodeRole, failedOver } = connection;
  const detail = state === 'connected' ? `${server}${nodeRole === null ? '' : ` (${nodeRole})`}` : state === 'reconnecting' ? `trying ${server}` : '';
  return html`
    <div class="connection" role="status" data-state=${state} data-server=${server} data-node-role=${nodeRole ?? ''} data-failed-over=${String(failedOver)}
      title=${connection.problem === null ? '' : `Last problem: ${connection.problem}`}>
      <span class="connection-dot" aria-hidden="true"></span>
      <span class="connection-label">${LABELS[state]}</span>
      ${detail === '' ? null : html`<span class="connection-detail">${detail}</span>`}
      ${failedOver && state === 'connected' ? html`<span class="connection-failover">failed over</span>` : null}
    </div>`;
}
