/** The input schemas: one per Command variant and ClientMessage type, each
 *  accepting a valid example and refusing an unknown field or an oversized
 *  string with a message that names the field. */

import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/conference/model.ts';
import { COMMAND_VARIANTS, CommandBodySchema, checkAgainst, checkClientMessage } from '../../src/server/schemas.ts';

const EXAMPLES: { readonly [T in Command['type']]: Extract<Command, { type: T }> } = {
  create: { type: 'create', title: 'Weekly', settings: { lobby: true, maxParticipants: 50, selfUnmute: false, screenShare: 'moderators' }, scheduledAtMs: 1_800_000_000_000, engine: 'sfu-1' },
  open: { type: 'open' },
  join: { type: 'join', name: 'Ada Lovelace' },
  admit: { type: 'admit', participant: 'p1' },
  deny: { type: 'deny', participant: 'p1' },
  leave: { type: 'leave' },
  kick: { type: 'kick', participant: 'p1' },
  mute: { type: 'mute', participant: 'p1', kind: 'video' },
  unmute: { type: 'unmute', participant: 'p1' },
  mute_all: { type: 'mute_all' },
  raise_hand: { type: 'raise_hand' },
  lower_hand: { type: 'lower_hand', participant: 'p1' },
  set_role: { type: 'set_role', participant: 'p1', role: 'moderator' },
  publish_track: { type: 'publish_track', kind: 'screen', muted: true },
  unpublish_track: { type: 'unpublish_track', kind: 'audio' },
  lock: { type: 'lock' },
  unlock: { type: 'unlock' },
  start_recording: { type: 'start_recording' },
  stop_recording: { type: 'stop_recording' },
  update_settings: { type: 'update_settings', settings: { selfUnmute: true } },
  set_engine: { type: 'set_engine', engine: null },
  set_presence: { type: 'set_presence', participant: 'p1', presence: 'reconnecting' },
  end: { type: 'end' },
};

describe('schemas', () => {
  it('schemas: every command variant accepts its example, in a REST body and in a WebSocket message', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(Object.keys(COMMAND_VARIANTS).sort());
    for (const command of Object.values(EXAMPLES)) {
      expect(checkAgainst(CommandBodySchema, { id: 'c-1', command }, 'body'), command.type).toMatchObject({ ok: true });
      expect(checkClientMessage({ type: 'command', id: 'c-1', session: 's1', command }), command.type).toMatchObject({ ok: true });
    }
  });

  it('schemas: every command variant refuses an unknown field, naming it', () => {
    for (const command of Object.values(EXAMPLES)) {
      const checked = checkClientMessage({ type: 'command', id: 'c-1', session: 's1', command: { ...command, sneaky: 1 } });
      expect(checked, command.type).toEqual({ ok: false, problem: { path: 'message/command/sneaky', message: 'message/command/sneaky: unknown field (not in the schema)' } });
    }
  });

  it('schemas: strings past their limit and ids off the grammar are refused, naming the field', () => {
    const cases: [unknown, string][] = [
      [{ type: 'join', name: 'x'.repeat(65) }, 'message/command/name'],
      [{ type: 'join', name: 'bell\u0007' }, 'message/command/name'],
      [{ type: 'create', title: 't'.repeat(201) }, 'message/command/title'],
      [{ type: 'kick', participant: 'a/b' }, 'message/command/participant'],
      [{ type: 'update_settings', settings: { maxParticipants: 0 } }, 'message/command/settings/maxParticipants'],
      [{ type: 'update_settings', settings: { maxParticipants: 1.5 } }, 'message/command/settings/maxParticipants'],
    ];
    for (const [command, path] of cases) {
      const checked = checkClientMessage({ type: 'command', id: 'c-1', session: 's1', command });
      expect(checked.ok, JSON.stringify(command)).toBe(false);
      if (!checked.ok) expect(checked.problem.path).toBe(path);
    }
    const longToken = checkClientMessage({ type: 'hello', token: 'x'.repeat(9000), protocol: 1 });
    expect(longToken).toMatchObject({ ok: false, problem: { path: 'message/token', message: expect.stringContaining('a string of 9000 characters') } });
  });

  it('schemas: a message of unknown type, or not an object, is named as such', () => {
    expect(checkClientMessage({ type: 'shout' })).toMatchObject({ ok: false, problem: { path: 'message/type', message: expect.stringContaining('hello, subscribe') } });
    expect(checkClientMessage([1, 2])).toMatchObject({ ok: false, problem: { message: 'message must be a JSON object' } });
    expect(checkClientMessage({ type: 'command', id: 'c', session: 's1', command: { type: 'fly' } })).toMatchObject({
      ok: false, problem: { path: 'message/command/type', message: expect.stringContaining('"fly"') },
    });
  });
});
