/** The idempotency window across failovers (DESIGN.md §4, issue 5): when a
 *  command with a client id has been applied, a marker element saying so is
 *  written through the replicated write path, so the secondary — the next
 *  primary — knows it too and answers a retry `duplicate` instead of running
 *  it again. Runs, joins of in-flight retries and quick answers stay with the
 *  in-memory window in front of it. It does not know commands or rules.
 *
 *  - Bounded by construction: markers live in `slots` fixed elements
 *    `d/{slot}`, the slot chosen by a hash of the dedupe key; a marker
 *    overwrites its slot (no deletes, so no tombstones to collect). A
 *    colliding newer command evicts an older marker early: a retry of the
 *    older one is then planned again against a state that already holds its
 *    effect, which for every conference command writes nothing or the same.
 *  - Written after the command's updates were applied, never before: a marker
 *    always means "done". A crash between the two leaves no marker, and the
 *    retry is planned again (the same reasoning).
 *  - Markers older than `ttlMs` are ignored. */

import { createHash } from 'node:crypto';
import type { CommandResult } from './command-service.ts';
import type { CommandDedupe, DedupeAnswer } from './dedupe.ts';
import type { StateNode } from './state-node.ts';

/** The marker element key prefix: `d/{slot}` lies outside every session, so no subscriber sees it. */
export const MARKER_PREFIX = 'd/';

export interface ReplicatedDedupeOptions {
  /** Marker slots (elements). 65,536: a minute of 1,000 commands/s before collisions become likely. */
  readonly slots: number;
  readonly ttlMs: number;
}

interface Marker {
  /** Hash of the dedupe key, so a slot shared by two commands is told apart. */
  readonly k: string;
  /** Hash of the command body: a retry must repeat it. */
  readonly f: string;
  /** Wall-clock ms when the command was done. */
  readonly a: number;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function isMarker(value: unknown): value is Marker {
  const v = value as Marker | null;
  return typeof v === 'object' && v !== null && typeof v.k === 'string' && typeof v.f === 'string' && typeof v.a === 'number';
}

export class ReplicatedCommandDedupe implements CommandDedupe<CommandResult> {
  /** Markers by slot key, kept from the node's change feed (on every node, so a promoted one has them). */
  readonly #markers = new Map<string, Marker>();
  readonly #unsubscribe: () => void;

  constructor(
    readonly local: CommandDedupe<CommandResult>,
    readonly node: StateNode,
    readonly options: ReplicatedDedupeOptions,
    readonly clock: { nowMs(): number },
  ) {
    this.#unsubscribe = node.onChange((change) => {
      if (!change.key.startsWith(MARKER_PREFIX)) return;
      if (isMarker(change.value)) this.#markers.set(change.key, change.value);
      else this.#markers.delete(change.key);
    });
  }

  get size(): number {
    return this.local.size;
  }

  /** Markers known to this node. */
  get markerCount(): number {
    return this.#markers.size;
  }

  close(): void {
    this.#unsubscribe();
  }

  async run(key: string, fingerprint: string, execute: () => Promise<CommandResult>, keep: (outcome: CommandResult) => boolean): Promise<DedupeAnswer<CommandResult>> {
    const keyDigest = digest(key);
    const keyHash = keyDigest.toString('base64url', 4, 20);
    const slot = `${MARKER_PREFIX}${keyDigest.readUInt32BE(0) % this.options.slots}`;
    const fingerprintHash = digest(fingerprint).toString('base64url', 0, 16);
    const marker = this.#markers.get(slot);
    if (marker !== undefined && marker.k === keyHash && this.clock.nowMs() - marker.a <= this.options.ttlMs) {
      if (marker.f !== fingerprintHash) return { kind: 'conflict' };
      return { kind: 'duplicate', outcome: { ok: true, duplicate: false } };
    }
    return this.local.run(
      key,
      fingerprint,
      async () => {
        const outcome = await execute();
        if (outcome.ok) {
          // Best effort: without the marker a retry on the other node is planned again, which is safe.
          const value: Marker = { k: keyHash, f: fingerprintHash, a: this.clock.nowMs() };
          await this.node.write([{ key: slot, value: { ...value } }]);
        }
        return outcome;
      },
      keep,
    );
  }
}
