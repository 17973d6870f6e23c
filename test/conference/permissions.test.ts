/** The permission table as data: effectiveRole, the rendering, and the copy
 *  printed in docs/CONFERENCE.md (which must be exactly the rendering). */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SessionMirror } from '../../src/conference/mirror.ts';
import { type CommandType, ROLES, keys } from '../../src/conference/model.ts';
import { CONDITIONS, PERMISSIONS, decide, effectiveRole, permissionTableMarkdown } from '../../src/conference/permissions.ts';
import { SYSTEM, participant, service } from './harness.ts';

const DOC = new URL('../../docs/CONFERENCE.md', import.meta.url);
const BEGIN = '<!-- permission-table:begin -->\n';
const END = '<!-- permission-table:end -->';

describe('permission table', () => {
  it('permissions: docs/CONFERENCE.md holds exactly the generated table between its markers', () => {
    const doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(doc.indexOf(BEGIN, start + 1)).toBe(-1);
    // To update the docs after changing the table: paste permissionTableMarkdown()'s output between the markers.
    expect(doc.slice(start + BEGIN.length, end)).toBe(permissionTableMarkdown());
  });

  it('permissions: the table has a row for every command type, a rule for every role, and names only known conditions', () => {
    const types = Object.keys(PERMISSIONS) as CommandType[];
    expect(types).toHaveLength(23);
    for (const type of types) {
      expect(PERMISSIONS[type].actors.length).toBeGreaterThan(0);
      for (const role of ROLES) {
        const rule = PERMISSIONS[type].roles[role];
        if (rule.condition !== undefined) expect(Object.keys(CONDITIONS)).toContain(rule.condition);
      }
    }
  });

  it('permissions: the markdown has one row per command and one line per condition', () => {
    const markdown = permissionTableMarkdown();
    const rows = markdown.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows).toHaveLength(Object.keys(PERMISSIONS).length);
    expect(rows.find((row) => row.startsWith('| `unmute` '))).toBe(
      '| `unmute` | participant | self | self | self, if `selfUnmute` | no | Nobody unmutes someone else’s microphone (privacy). |',
    );
    for (const name of Object.keys(CONDITIONS)) expect(markdown).toContain(`- \`${name}\`: `);
  });

  it('permissions: decide names the rule that refused', () => {
    expect(decide('kick', { actor: participant('m1', 'moderator'), role: 'moderator', self: false, targetRole: 'host' })).toEqual({
      allowed: false,
      reason: 'a moderator may kick only if the target is not a host',
    });
    expect(decide('set_engine', { actor: participant('h1', 'host'), role: 'host', self: true })).toEqual({
      allowed: false,
      reason: 'set_engine is sent by service actors only, not by a participant',
    });
    expect(decide('kick', { actor: participant('h1', 'host'), role: 'host', self: false })).toEqual({ allowed: true });
  });
});

describe('effectiveRole', () => {
  const mirror = new SessionMirror('s1');
  mirror.load([
    { key: keys.meta('s1'), ts: 1, value: { title: '', organizer: 'x', createdAtMs: 0, scheduledAtMs: null } },
    { key: keys.participant('s1', 'p1'), ts: 2, value: { name: 'Pia', presence: 'joined', joinedAtMs: 0 } },
    { key: keys.role('s1', 'p1'), ts: 3, value: { role: 'moderator', by: 'h1' } },
    { key: keys.participant('s1', 'p2'), ts: 4, value: { name: 'Pat', presence: 'joined', joinedAtMs: 0 } },
  ]);
  const view = mirror.view()!;

  it('effectiveRole: a member with a stored role acts with it, whatever its token says', () => {
    expect(effectiveRole(view, participant('p1', 'viewer'))).toBe('moderator');
  });

  it('effectiveRole: a member whose role element has not arrived acts with its token role, not the view’s default', () => {
    expect(view.participants.find((p) => p.id === 'p2')).toMatchObject({ role: 'participant', roleStored: false });
    expect(effectiveRole(view, participant('p2', 'host'))).toBe('host');
  });

  it('effectiveRole: a non-member, a service and the system act with their token role', () => {
    expect(effectiveRole(view, participant('p9', 'viewer'))).toBe('viewer');
    expect(effectiveRole(undefined, participant('p1', 'host'))).toBe('host');
    expect(effectiveRole(view, service('p1', 'participant'))).toBe('participant');
    expect(effectiveRole(view, SYSTEM)).toBe(SYSTEM.tokenRole);
  });
});
