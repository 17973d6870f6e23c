/** Reading the server's JSON text frames: parse, check the shape of every
 *  message type the SDK acts on (api.ts ServerMessage), and name the first
 *  problem when a frame is not one. Pure; knows nothing of what the SDK does next. */

import type { NodeInfo, ServerMessage } from '../conference/api.ts';
import type { ElementState } from '../conference/model.ts';

/** A frame that is not a message this protocol version defines, and why. */
export interface MessageProblem {
  readonly problem: string;
  /** True for a well-formed message of a type this SDK does not know (a newer server's): skip it. */
  readonly ignorable: boolean;
}

type Fields = Record<string, unknown>;

const isString = (value: unknown): value is string => typeof value === 'string';
const isSeq = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);

function isElement(value: unknown): value is ElementState {
  return isObject(value) && isString(value['key']) && typeof value['ts'] === 'number' && Number.isFinite(value['ts']) && 'value' in value;
}

function isElementList(value: unknown): value is ElementState[] {
  return Array.isArray(value) && value.every(isElement);
}

function isNodeInfo(value: unknown): value is NodeInfo {
  return (
    isObject(value) &&
    typeof value['nodeId'] === 'number' &&
    (value['role'] === 'primary' || value['role'] === 'secondary') &&
    typeof value['epoch'] === 'number' &&
    (value['primaryUrl'] === null || isString(value['primaryUrl']))
  );
}

function isWelcomeLimits(value: unknown): boolean {
  return isObject(value) && Number.isSafeInteger(value['messageBytesMax']) && (value['messageBytesMax'] as number) > 0 && isSeq(value['resumeKnownMax']);
}

/** For each message type, the first field that is wrong, or undefined when the message is well formed. */
const CHECKS: Record<ServerMessage['type'], (m: Fields) => string | undefined> = {
  welcome: (m) =>
    !isString(m['participant'])
      ? 'participant'
      : !isString(m['session'])
        ? 'session'
        : !isString(m['role'])
          ? 'role'
          : !isNodeInfo(m['node'])
            ? 'node'
            : m['limits'] !== undefined && !isWelcomeLimits(m['limits'])
              ? 'limits'
              : undefined,
  snapshot: (m) =>
    !isString(m['session']) ? 'session' : !isString(m['stream']) ? 'stream' : !isSeq(m['seq']) ? 'seq' : !isElementList(m['elements']) ? 'elements' : undefined,
  resumed: (m) =>
    !isString(m['session'])
      ? 'session'
      : !isString(m['stream'])
        ? 'stream'
        : !isSeq(m['seq'])
          ? 'seq'
          : m['changes'] !== undefined && !isElementList(m['changes'])
            ? 'changes'
            : m['reason'] !== undefined && !isString(m['reason'])
              ? 'reason'
              : undefined,
  delta: (m) => (!isString(m['session']) ? 'session' : !isSeq(m['seq']) ? 'seq' : !isElementList(m['changes']) ? 'changes' : undefined),
  unsubscribed: (m) => (!isString(m['session']) ? 'session' : !isString(m['reason']) ? 'reason' : undefined),
  result: (m) =>
    !isString(m['id'])
      ? 'id'
      : m['ok'] === true
        ? undefined
        : m['ok'] !== false
          ? 'ok'
          : !isString(m['code'])
            ? 'code'
            : !isString(m['message'])
              ? 'message'
              : m['primaryUrl'] !== undefined && m['primaryUrl'] !== null && !isString(m['primaryUrl'])
                ? 'primaryUrl'
                : undefined,
  signal: (m) => (!isString(m['session']) ? 'session' : !isString(m['from']) ? 'from' : undefined),
  pong: (m) => (!isString(m['id']) ? 'id' : undefined),
  node: (m) => (!isNodeInfo(m['node']) ? 'node' : undefined),
  error: (m) => (!isString(m['code']) ? 'code' : !isString(m['message']) ? 'message' : typeof m['fatal'] !== 'boolean' ? 'fatal' : undefined),
};

/**
 * The message in one text frame, or the problem that makes it unusable: not
 * JSON, not an object, or a field of the wrong shape (the connection cannot
 * be trusted further), or an unknown `type` (ignorable: a newer server's).
 * Extra fields are allowed (a newer server may add some).
 *
 * @example
 * ```ts
 * const message = parseServerMessage('{"type":"pong","id":"p1"}');
 * assert.deepEqual(message, { type: 'pong', id: 'p1' });
 * assert.deepEqual(parseServerMessage('{"type":"delta","session":"s","seq":-1,"changes":[]}'), { problem: 'delta: field seq is missing or malformed', ignorable: false });
 * assert.deepEqual(parseServerMessage('{"type":"news"}'), { problem: 'unknown message type "news"', ignorable: true });
 * assert.ok('problem' in parseServerMessage('not json'));
 * ```
 */
export function parseServerMessage(text: string): ServerMessage | MessageProblem {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { problem: `not JSON: ${text.slice(0, 80)}`, ignorable: false };
  }
  if (!isObject(data) || !isString(data['type'])) return { problem: 'not an object with a string type', ignorable: false };
  const type = data['type'];
  if (!Object.hasOwn(CHECKS, type)) return { problem: `unknown message type ${JSON.stringify(type.slice(0, 40))}`, ignorable: true };
  const wrong = CHECKS[type as ServerMessage['type']](data);
  if (wrong !== undefined) return { problem: `${type}: field ${wrong} is missing or malformed`, ignorable: false };
  return data as unknown as ServerMessage;
}
