/** CLI settings (src/cli/config.ts): defaults per role, precedence flag > env >
 *  config file > default, and a ConfigError naming the setting for every bad input. */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, type NodeConfig, nodeConfig, parseAddress, readSecret, readSettings, settingsHelp } from '../../src/cli/config.ts';
import { REPLICATION_LIMITS_DEFAULT, REPLICATION_TIMINGS_DEFAULT } from '../../src/replication/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'confstate-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes `content` to a fresh file in the temp directory and returns its path. */
function tempFile(content: string | Uint8Array, name = 'file'): string {
  const path = join(dir, `${fileCount++}-${name}`);
  writeFileSync(path, content);
  return path;
}

const SECRET_TEXT = 'k'.repeat(32);
/** An environment that only supplies a valid secret. */
const ENV: NodeJS.ProcessEnv = { CONFSTATE_SECRET: SECRET_TEXT };

function config(role: 'primary' | 'secondary' | 'check', argv: readonly string[] = [], env: NodeJS.ProcessEnv = ENV): NodeConfig {
  return nodeConfig(role, readSettings(argv, env), env);
}

/** `run` must throw a ConfigError whose message contains every one of `names`. */
function expectConfigError(run: () => unknown, ...names: string[]): ConfigError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a ConfigError naming ${names.join(', ')}`).toBeInstanceOf(ConfigError);
  for (const name of names) expect((thrown as Error).message).toContain(name);
  return thrown as ConfigError;
}

describe('config: defaults', () => {
  it('config: a primary with no settings listens on 127.0.0.1:7400 as node 1, epoch 1, min-replicas 1, with the default limits', () => {
    const c = config('primary');
    expect(c).toEqual({
      listen: { host: '127.0.0.1', port: 7400 },
      primary: undefined,
      nodeId: 1,
      epoch: 1,
      secret: expect.anything(),
      tls: undefined,
      minReplicas: 1,
      syncRepair: true,
      maxClockSkewMs: 5000,
      elementsMax: 4_000_000,
      logLevel: 'info',
      testHooks: false,
      limits: REPLICATION_LIMITS_DEFAULT,
      timings: REPLICATION_TIMINGS_DEFAULT,
      api: {
        listen: { host: '127.0.0.1', port: 7480 },
        publicUrl: 'http://127.0.0.1:7480',
        peerUrl: null,
        jwt: { kind: 'none' },
        adminToken: undefined,
        tls: undefined,
        limits: {},
      },
    });
    expect(Buffer.from(c.secret).toString('utf8')).toBe(SECRET_TEXT);
  });

  it('config: a secondary with no settings listens on 127.0.0.1:7401 as node 2 and dials the primary at 127.0.0.1:7400', () => {
    const c = config('secondary');
    expect(c).toMatchObject({ listen: { host: '127.0.0.1', port: 7401 }, primary: { host: '127.0.0.1', port: 7400 }, nodeId: 2, epoch: 1, minReplicas: 1, tls: undefined, testHooks: false });
    expect(c.limits).toEqual(REPLICATION_LIMITS_DEFAULT);
    expect(c.timings).toEqual(REPLICATION_TIMINGS_DEFAULT);
  });

  it('config: `check` with no settings is node 15 and targets the primary at 127.0.0.1:7400', () => {
    expect(config('check')).toMatchObject({ primary: { host: '127.0.0.1', port: 7400 }, nodeId: 15 });
  });

  it('config: every setting can be given as a flag', () => {
    const c = config('secondary', [
      '--listen', '0.0.0.0:9001', '--primary', '10.0.0.1:9000', '--node-id', '5', '--epoch', '3',
      '--min-replicas', '0', '--sync-check-interval-ms', '0', '--sync-repair', 'false', '--heartbeat-interval-ms', '50',
      '--link-timeout-ms', '500', '--max-clock-skew-ms', '100', '--elements-max', '1000', '--value-bytes-max', '1024',
      '--frame-bytes-max', '65536', '--window-elements-max', '10', '--log-level', 'debug', '--test-hooks',
    ]);
    expect(c).toMatchObject({
      listen: { host: '0.0.0.0', port: 9001 },
      primary: { host: '10.0.0.1', port: 9000 },
      nodeId: 5,
      epoch: 3,
      minReplicas: 0,
      syncRepair: false,
      maxClockSkewMs: 100,
      elementsMax: 1000,
      logLevel: 'debug',
      testHooks: true,
      limits: { ...REPLICATION_LIMITS_DEFAULT, valueBytesMax: 1024, frameBytesMax: 65536, windowElementsMax: 10 },
      timings: { ...REPLICATION_TIMINGS_DEFAULT, heartbeatIntervalMs: 50, linkTimeoutMs: 500, syncCheckIntervalMs: 0 },
    });
  });

  it('config: TLS is on when all three files are given', () => {
    const c = config('primary', ['--tls-cert', '/c.pem', '--tls-key', '/k.pem', '--tls-ca', '/ca.pem']);
    expect(c.tls).toEqual({ certPath: '/c.pem', keyPath: '/k.pem', caPath: '/ca.pem' });
  });
});

describe('config: precedence', () => {
  it('config: a flag beats the environment, which beats the config file, which beats the default', () => {
    const file = tempFile(JSON.stringify({ 'node-id': 3, 'log-level': 'warn', listen: '127.0.0.1:7000' }), 'config.json');
    const env = { ...ENV, CONFSTATE_NODE_ID: '4', CONFSTATE_LOG_LEVEL: 'error' };

    expect(config('primary', ['--config', file, '--node-id', '5'], env)).toMatchObject({ nodeId: 5, logLevel: 'error', listen: { port: 7000 } });
    expect(config('primary', ['--config', file], env)).toMatchObject({ nodeId: 4, logLevel: 'error', listen: { port: 7000 } });
    expect(config('primary', ['--config', file], ENV)).toMatchObject({ nodeId: 3, logLevel: 'warn', listen: { port: 7000 } });
    expect(config('primary', [], ENV)).toMatchObject({ nodeId: 1, logLevel: 'info', listen: { port: 7400 } });
  });

  it('config: the config file may be named by CONFSTATE_CONFIG; the --config flag beats it', () => {
    const fromEnv = tempFile(JSON.stringify({ 'node-id': '6' }), 'env.json');
    const fromFlag = tempFile(JSON.stringify({ 'node-id': '7' }), 'flag.json');
    expect(config('primary', [], { ...ENV, CONFSTATE_CONFIG: fromEnv }).nodeId).toBe(6);
    expect(config('primary', ['--config', fromFlag], { ...ENV, CONFSTATE_CONFIG: fromEnv }).nodeId).toBe(7);
  });

  it('config: the config file takes strings, numbers and booleans', () => {
    const file = tempFile(JSON.stringify({ epoch: 9, 'sync-repair': false, 'test-hooks': true, primary: '[::1]:7500' }), 'types.json');
    expect(config('secondary', ['--config', file])).toMatchObject({ epoch: 9, syncRepair: false, testHooks: true, primary: { host: '::1', port: 7500 } });
  });

  it('config: an empty environment variable counts as unset', () => {
    expect(config('primary', [], { ...ENV, CONFSTATE_NODE_ID: '', CONFSTATE_LISTEN: '', CONFSTATE_TEST_HOOKS: '' })).toMatchObject({ nodeId: 1, listen: { port: 7400 }, testHooks: false });
  });

  it('config: an empty CONFSTATE_CONFIG counts as unset, like every other empty variable', () => {
    expect(config('primary', [], { ...ENV, CONFSTATE_CONFIG: '' }).nodeId).toBe(1);
  });

  it('config: boolean environment variables take true/false, yes/no, on/off and 1/0', () => {
    for (const [text, value] of [['true', true], ['YES', true], ['on', true], ['1', true], ['false', false], ['no', false], ['Off', false], ['0', false]] as const) {
      expect(config('secondary', [], { ...ENV, CONFSTATE_TEST_HOOKS: text }).testHooks, text).toBe(value);
      expect(config('primary', [], { ...ENV, CONFSTATE_SYNC_REPAIR: text }).syncRepair, text).toBe(value);
    }
  });
});

describe('config: refused settings name the setting', () => {
  it('config: an unknown flag is refused with ConfigError naming it', () => {
    expectConfigError(() => readSettings(['--bogus', '1'], ENV), 'bogus');
    expectConfigError(() => readSettings(['--node-idx', '1'], ENV), 'node-idx');
    expectConfigError(() => readSettings(['positional'], ENV), 'positional');
  });

  it('config: a node id that is not an integer is refused with ConfigError naming --node-id', () => {
    for (const bad of ['abc', '1.5', '1e1', '0x2', '', ' ', '2a', 'NaN']) {
      expectConfigError(() => config('primary', ['--node-id', bad]), 'node-id');
    }
  });

  it('config: a node id outside 0..15 is refused with ConfigError naming --node-id', () => {
    for (const bad of ['16', '-1', '255', '99999999999999999999']) expectConfigError(() => config('primary', ['--node-id', bad]), '--node-id');
    expect(config('primary', ['--node-id', '0']).nodeId).toBe(0);
    expect(config('primary', ['--node-id', '15']).nodeId).toBe(15);
  });

  it('config: min-replicas other than 0 or 1 is refused with ConfigError naming --min-replicas', () => {
    for (const bad of ['2', '-1', 'one']) expectConfigError(() => config('primary', ['--min-replicas', bad]), '--min-replicas');
  });

  it('config: an unknown log level is refused with ConfigError naming --log-level', () => {
    for (const bad of ['verbose', 'INFO', 'trace', '']) expectConfigError(() => config('primary', ['--log-level', bad]), '--log-level');
    expectConfigError(() => config('primary', [], { ...ENV, CONFSTATE_LOG_LEVEL: 'loud' }), '--log-level');
  });

  it('config: a bad boolean is refused with ConfigError naming the setting', () => {
    expectConfigError(() => config('primary', ['--sync-repair', 'maybe']), '--sync-repair');
    expectConfigError(() => config('primary', [], { ...ENV, CONFSTATE_TEST_HOOKS: 'maybe' }), 'CONFSTATE_TEST_HOOKS');
  });

  it('config: an epoch below 1 is refused with ConfigError naming --epoch', () => {
    expectConfigError(() => config('primary', ['--epoch', '0']), '--epoch');
  });

  it('config: a bad address is refused with ConfigError naming --listen or --primary', () => {
    for (const bad of ['localhost', 'host:99999', ':1', 'host:', 'host:port', '::1:7400', '[::1]', 'a b:1', 'host:-1', 'host:123456']) {
      expectConfigError(() => config('secondary', ['--listen', bad]), '--listen', JSON.stringify(bad));
      expectConfigError(() => config('secondary', ['--primary', bad]), '--primary', JSON.stringify(bad));
    }
  });

  it('config: parseAddress accepts host:port, an IPv6 address in brackets and ports 0..65535', () => {
    expect(parseAddress('[::1]:7400', '--listen')).toEqual({ host: '::1', port: 7400 });
    expect(parseAddress('[2001:db8::1]:65535', '--listen')).toEqual({ host: '2001:db8::1', port: 65535 });
    expect(parseAddress('db.example.com:1', '--primary')).toEqual({ host: 'db.example.com', port: 1 });
    expect(parseAddress('10.0.0.1:0', '--listen')).toEqual({ host: '10.0.0.1', port: 0 });
    expect(config('primary', ['--listen', '[::1]:7400']).listen).toEqual({ host: '::1', port: 7400 });
    expectConfigError(() => parseAddress('host:65536', '--primary'), '--primary');
  });

  it('config: TLS with only one or two of the three files is refused with ConfigError naming the TLS settings', () => {
    const sets = [
      ['--tls-cert', '/c.pem'],
      ['--tls-key', '/k.pem'],
      ['--tls-ca', '/ca.pem'],
      ['--tls-cert', '/c.pem', '--tls-key', '/k.pem'],
      ['--tls-key', '/k.pem', '--tls-ca', '/ca.pem'],
    ];
    for (const argv of sets) expectConfigError(() => config('primary', argv), '--tls-cert', '--tls-key', '--tls-ca');
  });

  it('config: a link timeout not above the heartbeat interval is refused with ConfigError naming both', () => {
    expectConfigError(() => config('primary', ['--link-timeout-ms', '100', '--heartbeat-interval-ms', '100']), '--link-timeout-ms', '--heartbeat-interval-ms');
    expectConfigError(() => config('primary', ['--link-timeout-ms', '50']), '--link-timeout-ms', '--heartbeat-interval-ms');
    expect(config('primary', ['--link-timeout-ms', '101', '--heartbeat-interval-ms', '100']).timings.linkTimeoutMs).toBe(101);
  });

  it('config: a frame limit too small for four of the largest values is refused with ConfigError naming --frame-bytes-max', () => {
    expectConfigError(() => config('primary', ['--value-bytes-max', String(1024 * 1024)]), '--frame-bytes-max', '--value-bytes-max');
    expectConfigError(() => config('primary', ['--frame-bytes-max', String(64 * 1024), '--value-bytes-max', '16384']), '--frame-bytes-max');
    expect(config('primary', ['--frame-bytes-max', String(4 * (16384 + 1024)), '--value-bytes-max', '16384']).limits.frameBytesMax).toBe(4 * (16384 + 1024));
    expectConfigError(() => config('primary', ['--frame-bytes-max', '1000']), '--frame-bytes-max');
  });

  it('config: a config file that is not JSON is refused with ConfigError naming the file', () => {
    const file = tempFile('{ "node-id": 3, ', 'broken.json');
    expectConfigError(() => readSettings(['--config', file], ENV), 'config file', file, 'JSON');
  });

  it('config: a config file with an unknown setting is refused with ConfigError naming the setting', () => {
    const file = tempFile(JSON.stringify({ 'node-id': 3, nodeid: 4 }), 'unknown.json');
    expectConfigError(() => readSettings(['--config', file], ENV), 'nodeid');
    for (const name of ['config', 'help']) {
      expectConfigError(() => readSettings(['--config', tempFile(JSON.stringify({ [name]: 'x' }), `${name}.json`)], ENV), name);
    }
  });

  it('config: a config file that is an array, or a scalar, is refused with ConfigError', () => {
    for (const content of ['[]', '[{"node-id": 3}]', '3', 'null', '"text"']) {
      const file = tempFile(content, 'not-object.json');
      expectConfigError(() => readSettings(['--config', file], ENV), 'config file', file, 'object');
    }
  });

  it('config: a config file setting holding an object or array is refused with ConfigError naming it', () => {
    const file = tempFile(JSON.stringify({ listen: { host: 'x', port: 1 } }), 'nested.json');
    expectConfigError(() => readSettings(['--config', file], ENV), 'listen');
  });

  it('config: a config file that cannot be read is refused with ConfigError naming the file', () => {
    const missing = join(dir, 'no-such-config.json');
    expectConfigError(() => readSettings(['--config', missing], ENV), missing);
    expectConfigError(() => readSettings([], { ...ENV, CONFSTATE_CONFIG: missing }), missing);
  });

  it('config: a value from the config file is validated like a flag', () => {
    const file = tempFile(JSON.stringify({ 'node-id': 16 }), 'bad-node.json');
    expectConfigError(() => config('primary', ['--config', file]), '--node-id');
    const repair = tempFile(JSON.stringify({ 'sync-repair': 'maybe' }), 'bad-repair.json');
    expectConfigError(() => config('primary', ['--config', repair]), '--sync-repair');
  });

  it('config: a config file test-hooks that is not a boolean is refused with ConfigError naming test-hooks', () => {
    // Like sync-repair above and CONFSTATE_TEST_HOOKS in the environment: not silently taken as false.
    for (const bad of ['"maybe"', '2', '"true"']) {
      const file = tempFile(`{ "test-hooks": ${bad} }`, 'bad-hooks.json');
      let c: NodeConfig | undefined;
      let thrown: unknown;
      try {
        c = config('secondary', ['--config', file]);
      } catch (error) {
        thrown = error;
      }
      if (bad === '"true"' && thrown === undefined) {
        expect(c?.testHooks, 'a string "true" is either read as true or refused').toBe(true);
        continue;
      }
      expect(thrown, `test-hooks ${bad}`).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toContain('test-hooks');
    }
  });
});

describe('config: the shared secret', () => {
  it('config: no secret at all is refused with ConfigError naming --secret-file and CONFSTATE_SECRET', () => {
    expectConfigError(() => config('primary', [], {}), '--secret-file', 'CONFSTATE_SECRET');
    expectConfigError(() => readSecret(undefined, {}), '--secret-file');
  });

  it('config: a secret shorter than 32 bytes is refused with ConfigError naming the secret', () => {
    expectConfigError(() => readSecret(undefined, { CONFSTATE_SECRET: 'k'.repeat(31) }), 'secret', '31 bytes');
    expectConfigError(() => readSecret(tempFile('k'.repeat(31)), {}), 'secret', '31 bytes');
    // 31 bytes plus a newline is still 31 bytes
    expectConfigError(() => readSecret(tempFile(`${'k'.repeat(31)}\n`), {}), 'secret', '31 bytes');
    expectConfigError(() => config('primary', ['--secret-file', tempFile('short')], {}), 'secret');
    expect(readSecret(undefined, { CONFSTATE_SECRET: 'k'.repeat(32) })).toHaveLength(32);
  });

  it('config: a missing secret file is refused with ConfigError naming the file', () => {
    const missing = join(dir, 'no-such-secret');
    expectConfigError(() => readSecret(missing, ENV), 'secret file', missing);
    expectConfigError(() => config('primary', ['--secret-file', missing]), 'secret file', missing);
  });

  it('config: a trailing newline (LF or CRLF) in the secret file is stripped; other bytes are kept', () => {
    const secret = 'x'.repeat(40);
    for (const ending of ['\n', '\r\n', '\n\n']) {
      expect(Buffer.from(readSecret(tempFile(secret + ending), {})).toString('utf8')).toBe(secret);
    }
    const binary = Uint8Array.from({ length: 32 }, (_, i) => (i * 37) & 0xff);
    expect(Buffer.from(readSecret(tempFile(binary), {})).equals(Buffer.from(binary))).toBe(true);
    expect(Buffer.from(readSecret(tempFile(` ${secret} `), {})).toString('utf8')).toBe(` ${secret} `);
  });

  it('config: CONFSTATE_SECRET is used when no secret file is given, and a secret file beats it', () => {
    const fromEnv = 'e'.repeat(33);
    expect(Buffer.from(config('primary', [], { CONFSTATE_SECRET: fromEnv }).secret).toString('utf8')).toBe(fromEnv);
    const fromFile = 'f'.repeat(34);
    const file = tempFile(fromFile);
    expect(Buffer.from(config('primary', ['--secret-file', file], { CONFSTATE_SECRET: fromEnv }).secret).toString('utf8')).toBe(fromFile);
    expect(Buffer.from(config('primary', [], { CONFSTATE_SECRET: fromEnv, CONFSTATE_SECRET_FILE: file }).secret).toString('utf8')).toBe(fromFile);
  });

  it('config: the secret never appears in a ConfigError message', () => {
    const secret = 'S3CR3T-'.repeat(2); // too short, so it is refused
    const error = expectConfigError(() => readSecret(tempFile(secret), {}), 'secret');
    expect(error.message).not.toContain('S3CR3T');
    const envError = expectConfigError(() => config('primary', [], { CONFSTATE_SECRET: secret }), 'secret');
    expect(envError.message).not.toContain('S3CR3T');
  });
});

describe('config: the conference API', () => {
  it('config: the secondary serves its API on 127.0.0.1:7481 and names the primary with --peer-url', () => {
    const c = config('secondary', ['--peer-url', 'http://127.0.0.1:7480/']);
    expect(c.api).toMatchObject({ listen: { host: '127.0.0.1', port: 7481 }, publicUrl: 'http://127.0.0.1:7481', peerUrl: 'http://127.0.0.1:7480' });
  });

  it('config: an IPv6 listen address and TLS give an https public URL with brackets', () => {
    const c = config('primary', ['--api-listen', '[::1]:9000', '--api-tls-cert', 'c.pem', '--api-tls-key', 'k.pem']);
    expect(c.api.publicUrl).toBe('https://[::1]:9000');
    expect(c.api.tls).toEqual({ certPath: 'c.pem', keyPath: 'k.pem' });
  });

  it('config: each JWT key source is read and checked', () => {
    const jwt = config('primary', ['--jwt-secret-file', tempFile('s'.repeat(40) + '\n')]).api.jwt;
    expect(jwt.kind === 'secret' && Buffer.from(jwt.secret).toString('utf8')).toBe('s'.repeat(40));
    const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n';
    expect(config('primary', ['--jwt-public-key-file', tempFile(pem), '--jwt-alg', 'EdDSA']).api.jwt).toEqual({ kind: 'public_key', alg: 'EdDSA', pem });
    const jwks = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'abc' }] };
    expect(config('primary', ['--jwks-file', tempFile(JSON.stringify(jwks))]).api.jwt).toEqual({ kind: 'jwks', jwks });
    expect(config('primary', ['--admin-token-file', tempFile('a'.repeat(32))]).api.adminToken).toHaveLength(32);
  });

  it('config: --api-limits changes only the limits it names; unknown names and non-positive values are refused', () => {
    expect(config('primary', ['--api-limits', '{"messagesPerSecond":100000,"messageBurst":200000}']).api.limits).toEqual({ messagesPerSecond: 100_000, messageBurst: 200_000 });
    expect(config('primary', [], { ...ENV, CONFSTATE_API_LIMITS: '{"wsConnectionsMax":20000}' }).api.limits).toEqual({ wsConnectionsMax: 20_000 });
    expectConfigError(() => config('primary', ['--api-limits', '{"messagesPerSec":1}']), '--api-limits', 'messagesPerSec', 'messagesPerSecond');
    expectConfigError(() => config('primary', ['--api-limits', '{"messageBurst":0}']), '--api-limits', 'messageBurst', 'positive integer');
    expectConfigError(() => config('primary', ['--api-limits', '{"messageBurst":1.5}']), 'messageBurst');
    expectConfigError(() => config('primary', ['--api-limits', '[1]']), '--api-limits', 'JSON object');
    expectConfigError(() => config('primary', ['--api-limits', '{']), '--api-limits', 'JSON object');
  });

  it('config: bad API settings are refused and named', () => {
    expectConfigError(() => config('primary', ['--api-listen', 'nowhere']), '--api-listen');
    expectConfigError(() => config('primary', ['--public-url', 'ftp://x']), '--public-url');
    expectConfigError(() => config('primary', ['--peer-url', 'not a url']), '--peer-url');
    expectConfigError(() => config('primary', ['--api-tls-cert', 'c.pem']), '--api-tls-cert', '--api-tls-key');
    expectConfigError(() => config('primary', ['--jwt-secret-file', tempFile('short')]), 'JWT secret file', '32');
    expectConfigError(() => config('primary', ['--jwt-secret-file', join(dir, 'missing')]), 'cannot read the JWT secret file');
    expectConfigError(() => config('primary', ['--jwt-public-key-file', tempFile('x'), '--jwt-alg', 'HS256']), '--jwt-alg', 'EdDSA or RS256');
    expectConfigError(() => config('primary', ['--jwt-public-key-file', tempFile('not pem'), '--jwt-alg', 'RS256']), 'PEM public key');
    expectConfigError(() => config('primary', ['--jwt-alg', 'RS256']), '--jwt-alg applies');
    expectConfigError(() => config('primary', ['--jwks-file', tempFile('{')]), '--jwks-file', 'not valid JSON');
    expectConfigError(() => config('primary', ['--jwks-file', tempFile('{"keys":[]}')]), '--jwks-file', 'keys');
    expectConfigError(() => config('primary', ['--jwks-file', tempFile('{"keys":[{}]}'), '--jwt-secret-file', tempFile('s'.repeat(40))]), 'only one of');
    expectConfigError(() => config('primary', ['--admin-token-file', tempFile('tiny')]), 'admin token file');
  });
});

describe('config: tombstone collection', () => {
  it('config: tombstone retention and collection interval are read from flags, environment and config file, with their defaults', () => {
    expect(config('primary').timings).toMatchObject({ tombstoneRetentionMs: 3_600_000, tombstoneCollectIntervalMs: 60_000 });
    expect(config('primary', ['--tombstone-retention-ms', '10000', '--tombstone-collect-interval-ms', '0']).timings).toMatchObject({ tombstoneRetentionMs: 10_000, tombstoneCollectIntervalMs: 0 });
    const env = { ...ENV, CONFSTATE_TOMBSTONE_RETENTION_MS: '20000', CONFSTATE_TOMBSTONE_COLLECT_INTERVAL_MS: '5000' };
    expect(config('secondary', [], env).timings).toMatchObject({ tombstoneRetentionMs: 20_000, tombstoneCollectIntervalMs: 5000 });
    const file = tempFile(JSON.stringify({ 'tombstone-retention-ms': 30000, 'tombstone-collect-interval-ms': '1000' }), 'tombstones.json');
    expect(config('primary', ['--config', file]).timings).toMatchObject({ tombstoneRetentionMs: 30_000, tombstoneCollectIntervalMs: 1000 });
    expect(settingsHelp()).toContain('--tombstone-retention-ms');
    expect(settingsHelp()).toContain('CONFSTATE_TOMBSTONE_COLLECT_INTERVAL_MS');
  });

  it('config: a tombstone retention below the link, failover or clock-skew limit, or a collection interval under 100 ms, is refused and named', () => {
    expectConfigError(() => config('primary', ['--tombstone-retention-ms', '4999']), '--tombstone-retention-ms', '--max-clock-skew-ms');
    expectConfigError(() => config('primary', ['--tombstone-retention-ms', '1500', '--max-clock-skew-ms', '0', '--link-timeout-ms', '2000']), '--tombstone-retention-ms', '--link-timeout-ms');
    expectConfigError(() => config('primary', ['--tombstone-retention-ms', '500', '--max-clock-skew-ms', '0']), '--tombstone-retention-ms', '--link-timeout-ms');
    expect(config('primary', ['--tombstone-retention-ms', '1000', '--max-clock-skew-ms', '0']).timings.tombstoneRetentionMs).toBe(1000);
    expectConfigError(() => config('primary', ['--tombstone-retention-ms', '-1']), '--tombstone-retention-ms');
    expectConfigError(() => config('primary', ['--tombstone-collect-interval-ms', '50']), '--tombstone-collect-interval-ms', '100');
    expectConfigError(() => config('primary', ['--tombstone-collect-interval-ms', 'soon']), '--tombstone-collect-interval-ms');
  });
});

describe('config: failover', () => {
  it('config: a primary names its secondary with --peer; failover and probe timings are read', () => {
    const c = config('primary', ['--peer', '127.0.0.1:7401', '--failover-timeout-ms', '900', '--probe-interval-ms', '250']);
    expect(c.primary).toEqual({ host: '127.0.0.1', port: 7401 });
    expect(c.timings).toMatchObject({ failoverTimeoutMs: 900, probeIntervalMs: 250 });
    expect(config('primary').primary).toBeUndefined();
  });

  it('config: --peer on a secondary, --primary on a primary, and a failover timeout within a heartbeat are refused and named', () => {
    expectConfigError(() => config('primary', ['--primary', '127.0.0.1:1']), '--primary', '--peer');
    expectConfigError(() => config('secondary', ['--peer', '127.0.0.1:1']), '--peer', '--primary');
    expectConfigError(() => config('primary', ['--peer', 'nowhere']), '--peer');
    expectConfigError(() => config('secondary', ['--failover-timeout-ms', '50']), '--failover-timeout-ms', '--heartbeat-interval-ms');
    expect(config('secondary', ['--failover-timeout-ms', '0']).timings.failoverTimeoutMs).toBe(0);
  });
});
