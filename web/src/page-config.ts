/** What the page learns from the server that served it (`/config.json`,
 *  src/server/web.ts), and the order it tries the servers in: the one it
 *  came from first, then the others. It knows nothing of conferences. */

export interface PageConfig {
  /** Public API URLs of the node that served the page and its peer. */
  readonly servers: readonly string[];
  /** The DEMO token issuer is on: joining by name works. */
  readonly demo: boolean;
  /** Above this many people present the page warns that the mesh will struggle. */
  readonly meshParticipantsMax: number;
}

/** The mesh limit the docs give, for a server too old to say. */
const MESH_PARTICIPANTS_MAX_DEFAULT = 6;

/** Reads `/config.json`; a server without it (a development proxy) gives just this origin and no demo. */
export async function loadPageConfig(origin: string): Promise<PageConfig> {
  try {
    const response = await fetch('/config.json', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = (await response.json()) as Partial<PageConfig>;
    return {
      servers: Array.isArray(body.servers) ? body.servers.filter((s): s is string => typeof s === 'string') : [origin],
      demo: body.demo === true,
      meshParticipantsMax: typeof body.meshParticipantsMax === 'number' ? body.meshParticipantsMax : MESH_PARTICIPANTS_MAX_DEFAULT,
    };
  } catch {
    return { servers: [origin], demo: false, meshParticipantsMax: MESH_PARTICIPANTS_MAX_DEFAULT };
  }
}

/**
 * The URLs the SDK fails over between: the origin that served the page first
 * (it answered a moment ago), then every other configured server once.
 */
export function serverOrder(origin: string, servers: readonly string[]): string[] {
  const normalise = (url: string): string => url.replace(/\/+$/, '');
  const ordered = [normalise(origin)];
  for (const server of servers.map(normalise)) if (!ordered.includes(server)) ordered.push(server);
  return ordered;
}
