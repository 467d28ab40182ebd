import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { adapterRequestChannel, sessionPattern, workerKey } from '../src/redis/redis-keys.js';
import type { HealthSample } from '../src/cli/redis-tools/health-sample.js';
import { scanEach } from '../src/redis/redis-scan.js';
import {
  conversationOfTwo,
  collect,
  request,
  TEST_JWT_SECRET,
  type ChatClient,
} from './support/chat-client.js';
import { FakeOllama } from './support/fake-ollama.js';
import { freePort, waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/**
 * The operator tools (`redis:check`, `redis:health`) and config/redis.conf, end to end: the production
 * config (passwords substituted) runs a real redis-server, the service (WORKERS=2) runs on it as the
 * ACL user `chat`, and the built tools run as real processes against it, against a dead port, with a
 * wrong password and as a user without INFO/PUBSUB. None of their outputs may carry a password.
 */

const CHECK = resolve(process.cwd(), 'dist/cli/redis-check.js');
const HEALTH = resolve(process.cwd(), 'dist/cli/redis-health.js');
const CONF = resolve(process.cwd(), 'config/redis.conf');
const PREFIX = 'tools-e2e';
const random = () => randomBytes(8).toString('hex');
// Characters a URL must encode, so the redaction of both forms is exercised.
const PASSWORD = `chat@${random()}/pw+`;
const ADMIN_PASSWORD = `ops-${random()}`;
const LIMITED_PASSWORD = `limited-${random()}`;
const WRONG_PASSWORD = `wrong-${random()}`;
const SECRETS = [PASSWORD, encodeURIComponent(PASSWORD), ADMIN_PASSWORD, LIMITED_PASSWORD, WRONG_PASSWORD];

const dir = mkdtempSync(join(tmpdir(), 'redis-tools-e2e-'));
let redis: RedisServer;
let admin: Redis;
let ollama: FakeOllama;
let service: ServiceProcess;
const sockets: ChatClient[] = [];
const observers: Redis[] = [];
/** stdout + stderr of every tool run, for the final "no password anywhere" assertion. */
const outputs: string[] = [];

interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function toolEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    NODE_ENV: 'test',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    STORAGE_DIR: join(dir, 'tool-storage'),
    ...overrides,
  };
}

/** Starts a built CLI as a real process (cwd: the temp dir, so no developer `.env` is read). */
function startTool(
  script: string,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; stdout: () => string; done: Promise<ToolRun> } {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A hung tool fails the test instead of hanging the suite.
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<ToolRun>((resolveRun) =>
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      outputs.push(stdout, stderr);
      resolveRun({ code, signal, stdout, stderr });
    }),
  );
  return { child, stdout: () => stdout, done };
}

function runTool(script: string, args: string[] = [], env = toolEnv()): Promise<ToolRun> {
  return startTool(script, args, env).done;
}

function parseJson<T>(run: ToolRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not one JSON object (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** Denials recorded by Redis's ACL LOG for `user` (read as the `ops` user). */
async function aclDenials(user: string): Promise<string[]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries
    .map((entry) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < entry.length; i += 2) fields[String(entry[i])] = String(entry[i + 1]);
      return fields;
    })
    .filter((fields) => fields.username === user && fields.reason !== 'auth')
    .map((fields) => `${fields.reason} ${fields.object} (${fields.context})`);
}

function observer(options: { username?: string; password?: string } = {}): Redis {
  const client = new Redis(redis.port, '127.0.0.1', {
    username: options.username ?? 'chat',
    password: options.password ?? PASSWORD,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on('error', () => undefined);
  observers.push(client);
  return client;
}

beforeAll(async () => {
  const conf = join(dir, 'redis.conf');
  writeFileSync(
    conf,
    readFileSync(CONF, 'utf8')
      .replaceAll('__REDIS_PASSWORD__', PASSWORD)
      .replaceAll('__REDIS_ADMIN_PASSWORD__', ADMIN_PASSWORD)
      .replaceAll('__REDIS_KEY_PREFIX__', PREFIX),
  );
  redis = await RedisServer.start({
    configFile: conf,
    username: 'chat',
    password: PASSWORD,
    args: ['--dir', dir, '--pidfile', join(dir, 'redis.pid')],
  });
  admin = new Redis(redis.port, '127.0.0.1', { username: 'ops', password: ADMIN_PASSWORD });
  ollama = await FakeOllama.start();
  ollama.script = { tokens: ['Sessions', ' live', ' in', ' Redis', '.'], tokenDelayMs: 5 };
  service = await ServiceProcess.start({
    WORKERS: '2',
    REDIS_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
    OLLAMA_URL: ollama.url,
    SHUTDOWN_GRACE_MS: '5000',
  });
  await waitFor(async () => service.alive && (await service.get('/api/ready')).status === 200, {
    timeoutMs: 60_000,
    what: 'readiness 200 on the hardened Redis',
  });
}, 120_000);

afterAll(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  // Only live ones: ioredis arms a 2 s timer on every disconnect() of a stream already closed.
  for (const client of observers) if (client.status !== 'end') client.disconnect();
  admin?.disconnect();
  await stopAllServices();
  await ollama?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('config/redis.conf', () => {
  it('starts redis-server hardened: default user off, CONFIG/KEYS/FLUSH* gone, the service user fenced to its prefix', async () => {
    // The service booted two workers on it without a single refused command, key or channel.
    expect(await aclDenials('chat')).toEqual([]);

    const anonymous = new Redis(redis.port, '127.0.0.1', {
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    anonymous.on('error', () => undefined);
    observers.push(anonymous);
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);

    for (const command of [['CONFIG', 'GET', 'maxmemory'], ['KEYS', '*'], ['FLUSHALL'], ['FLUSHDB']])
      await expect(admin.call(command[0], ...command.slice(1))).rejects.toThrow(/unknown command/i);

    const chat = observer();
    await expect(chat.set('another-service:key', 'x')).rejects.toThrow(/NOPERM/);
    await expect(chat.call('SHUTDOWN')).rejects.toThrow(/NOPERM/);
    expect(await chat.set(`${PREFIX}:probe`, 'x', 'EX', 10)).toBe('OK');

    expect(await admin.call('ACL', 'LOG', 'RESET')).toBe('OK');
  });

  it('runs the service (WORKERS=2) as the ACL user: ready, two chat clients exchange a message and an answer streams, nothing refused', async () => {
    const ready = await service.get<{
      checks: { redis: boolean };
      workers: number;
      details: Record<string, { status: string }>;
    }>('/api/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.redis).toBe(true);
    expect(ready.body.workers).toBe(2);
    expect(ready.body.details.redis_pubsub.status).toBe('up');
    expect(service.output).toContain(`Redis manager initialized: redis://chat:***@127.0.0.1:${redis.port}`);

    const { alice, bob, conversationId } = await conversationOfTwo(service);
    sockets.push(alice, bob);
    const inboxes = [alice, bob].map((socket) =>
      collect<{ role: string; content: string }>(socket, 'message:new'),
    );
    const done = [alice, bob].map((socket) =>
      collect<{ message: { content: string } }>(socket, 'message:done'),
    );
    const sent = await request<{ ok: boolean }>(alice, 'message:send', {
      conversationId,
      content: 'hello bob',
    });
    expect(sent.ok).toBe(true);
    await waitFor(
      () => inboxes.every((inbox) => inbox.some((m) => m.role === 'user' && m.content === 'hello bob')),
      { timeoutMs: 15_000, what: 'the message on both clients' },
    );
    // The answer exercises rate limiting (EVALSHA), answer progress (MULTI APPEND/INCR) and broadcasts.
    await waitFor(() => done.every((list) => list.length > 0), {
      timeoutMs: 30_000,
      what: 'message:done on both',
    });
    expect(done[1][0].message.content).toBe('Sessions live in Redis.');

    expect(await aclDenials('chat')).toEqual([]);
    expect(service.output).not.toMatch(/NOPERM|WRONGPASS|NOAUTH/);
  });
});

describe('npm run redis:check', () => {
  it('passes every test against the live hardened Redis, in text and in JSON', async () => {
    const text = await runTool(CHECK);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      `redis:check redis://chat:***@127.0.0.1:${redis.port} (standalone, prefix ${PREFIX})`,
    );
    for (const name of [
      'connect',
      'PING',
      'SET',
      'GET',
      'DEL',
      'session HSET+EXPIRE',
      'session HGETALL',
      'session DEL',
      'latency',
    ])
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^✔ ${name.replace('+', '\\+')} `)));
    expect(lines.at(-1)).toBe('All 9 tests passed.');

    const run = await runTool(CHECK, ['--json']);
    expect(run.code).toBe(0);
    const report = parseJson<{ ok: boolean; tests: { name: string; ok: boolean; meanMs?: number }[] }>(run);
    expect(report.ok).toBe(true);
    expect(report.tests).toHaveLength(9);
    expect(report.tests.every((test) => test.ok)).toBe(true);
    expect(typeof report.tests.find((test) => test.name === 'latency')?.meanMs).toBe('number');

    // Its throwaway keys are gone.
    const keys: string[] = [];
    await scanEach(observer(), `${PREFIX}:check:*`, (batch) => void keys.push(...batch));
    expect(keys).toEqual([]);
  });
});

describe('npm run redis:health', () => {
  it('is HEALTHY with the live sessions counted and both workers subscribed', async () => {
    const run = await runTool(HEALTH, ['--json']);
    expect(run.code).toBe(0);
    const sample = parseJson<HealthSample>(run);
    expect(sample).toMatchObject({
      verdict: 'HEALTHY',
      reasons: [],
      connected: true,
      target: `redis://chat:***@127.0.0.1:${redis.port}`,
      sessions: 2, // alice and bob, still connected
      unavailable: {},
    });
    expect(sample.workers.subscribed).toBe(2);
    expect(sample.server?.version).toMatch(/^7\./);
    expect(sample.server?.maxClients).toBeGreaterThan(0);
    expect(sample.memory).toMatchObject({ policy: 'volatile-lru', maxmemoryBytes: 512 * 1024 * 1024 });
    expect(sample.canary).toMatchObject({ ok: true });
    expect(typeof sample.latencyMs.ping).toBe('number');

    const text = await runTool(HEALTH);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^sessions +2 live/m);
    expect(text.stdout).toMatch(/^canary +pub\/sub round trip/m);
    expect(text.stdout.trim().split('\n').at(-1)).toBe('HEALTHY');
  });

  it('reports the worker registry: registered vs subscribed workers, a failing canary', async () => {
    // A prefix of its own (inside the ACL's), so the service's own registry cannot interfere.
    const prefix = `${PREFIX}:registry`;
    const env = toolEnv({ REDIS_KEY_PREFIX: prefix });
    const chat = observer();
    const canaryAt = new Date().toISOString();
    const workers = [
      {
        pid: '101',
        instance: 'pod-a',
        startedAt: '2026-01-01T00:00:00.000Z',
        canaryOk: '1',
        canaryRttMs: '0.8',
        canaryAt,
      },
      {
        pid: '202',
        instance: 'pod-b',
        startedAt: '2026-01-01T00:00:01.000Z',
        canaryOk: '1',
        canaryRttMs: '',
        canaryAt,
      },
    ];
    for (const worker of workers) {
      const key = workerKey(prefix, worker.instance, worker.pid);
      await chat.multi().hset(key, worker).expire(key, 60).exec();
    }
    // Stand-ins for the workers' adapters: each SUBSCRIBEs the adapter's request channel.
    const adapters = [observer(), observer()];
    await adapters[0].subscribe(adapterRequestChannel(prefix));

    const one = await runTool(HEALTH, ['--json'], env);
    expect(one.code).toBe(2);
    const degraded = parseJson<HealthSample>(one);
    expect(degraded.verdict).toBe('DEGRADED');
    expect(degraded.reasons).toEqual(["1 of 2 registered workers subscribed to the adapter's channel"]);
    expect(degraded.workers.expected).toBe(2);
    expect(degraded.workers.subscribed).toBe(1);
    expect(degraded.workers.registry).toEqual([
      expect.objectContaining({
        key: `${prefix}:worker:pod-a:101`,
        pid: 101,
        instance: 'pod-a',
        startedAt: '2026-01-01T00:00:00.000Z',
        canaryOk: true,
        canaryRttMs: 0.8,
        canaryAt,
      }),
      expect.objectContaining({
        key: `${prefix}:worker:pod-b:202`,
        pid: 202,
        canaryOk: true,
        canaryRttMs: null,
      }),
    ]);

    await adapters[1].subscribe(adapterRequestChannel(prefix));
    const both = await runTool(HEALTH, ['--json'], env);
    expect(both.code).toBe(0);
    expect(parseJson<HealthSample>(both)).toMatchObject({
      verdict: 'HEALTHY',
      workers: { expected: 2, subscribed: 2 },
    });

    await chat.hset(workerKey(prefix, 'pod-b', 202), 'canaryOk', '0');
    const failing = await runTool(HEALTH, [], env);
    expect(failing.code).toBe(2);
    expect(failing.stdout).toMatch(/pod-b:202 started .*canary FAILING/);
    expect(failing.stdout.trim().split('\n').at(-1)).toBe(
      'DEGRADED: worker pod-b:202 reports its canary failing',
    );

    for (const adapter of adapters) adapter.disconnect();
    await chat.del(...workers.map((worker) => workerKey(prefix, worker.instance, worker.pid)));
  });

  it('--watch --interval 1 --json prints a JSON line per sample until SIGTERM, then exits 0', async () => {
    const watch = startTool(HEALTH, ['--watch', '--interval', '1', '--json'], toolEnv());
    await waitFor(() => watch.stdout().split('\n').filter(Boolean).length >= 2, {
      timeoutMs: 60_000,
      what: 'two samples',
    });
    watch.child.kill('SIGTERM');
    const run = await watch.done;
    expect(run).toMatchObject({ code: 0, signal: null });
    const samples = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as HealthSample);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const sample of samples) expect(sample).toMatchObject({ verdict: 'HEALTHY', sessions: 2 });
    expect(new Set(samples.map((sample) => sample.timestamp)).size).toBe(samples.length);
  });

  it('reports INFO and PUBSUB as unavailable for a user without them, and still judges the rest', async () => {
    await admin.call(
      'ACL',
      'SETUSER',
      'limited',
      'on',
      `>${LIMITED_PASSWORD}`,
      'resetkeys',
      `~${PREFIX}:*`,
      'resetchannels',
      `&${PREFIX}:*`,
      '-@all',
      ...['ping', 'get', 'set', 'del', 'hset', 'hgetall', 'expire', 'ttl', 'scan', 'multi', 'exec'].map(
        (c) => `+${c}`,
      ),
      ...['publish', 'subscribe', 'unsubscribe', 'client|setname', 'select', 'quit'].map((c) => `+${c}`),
    );
    const env = toolEnv({
      REDIS_URL: `redis://limited:${encodeURIComponent(LIMITED_PASSWORD)}@127.0.0.1:${redis.port}`,
    });
    const run = await runTool(HEALTH, ['--json'], env);
    const sample = parseJson<HealthSample>(run);
    expect(sample.unavailable.info).toMatch(/NOPERM/);
    expect(sample.unavailable.pubsub).toMatch(/NOPERM/);
    expect(sample.server).toBeNull();
    expect(sample.workers.subscribed).toBeNull();
    expect(sample.sessions).toBe(2);
    expect(sample.canary).toMatchObject({ ok: true });
    expect(sample.verdict).toBe('HEALTHY');
    expect(run.code).toBe(0);

    const check = await runTool(CHECK, [], env);
    expect(check.code).toBe(0);
  });

  it("counted exactly the live sockets' session hashes (SCAN cross-check)", async () => {
    const chat = observer();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await chat.scan(cursor, 'MATCH', sessionPattern(PREFIX), 'COUNT', 500);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    expect(keys.sort()).toEqual(sockets.map((socket) => `${PREFIX}:session:${socket.id}`).sort());
  });
});

describe('failures', () => {
  it('both tools fail with exit 1 and a clear line against a dead port', async () => {
    const env = toolEnv({
      REDIS_URL: `redis://chat:${encodeURIComponent(PASSWORD)}@127.0.0.1:${await freePort()}`,
    });
    const [check, checkJson, health, healthJson] = await Promise.all([
      runTool(CHECK, [], env),
      runTool(CHECK, ['--json'], env),
      runTool(HEALTH, [], env),
      runTool(HEALTH, ['--json'], env),
    ]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^✘ connect .*no connection within \d+ s \(connect ECONNREFUSED/m);
    expect(check.stdout.trim().split('\n').at(-1)).toBe('FAILED: 1 failed, 8 skipped of 9.');
    expect(checkJson.code).toBe(1);
    const report = parseJson<{ ok: boolean; tests: { name: string; ok: boolean; skipped?: boolean }[] }>(
      checkJson,
    );
    expect(report.ok).toBe(false);
    expect(report.tests[0]).toMatchObject({ name: 'connect', ok: false });
    expect(report.tests.slice(1).every((test) => test.skipped)).toBe(true);

    expect(health.code).toBe(1);
    expect(health.stdout.trim().split('\n').at(-1)).toMatch(/^UNHEALTHY: unreachable: no connection within/);
    expect(healthJson.code).toBe(1);
    expect(parseJson<HealthSample>(healthJson)).toMatchObject({ verdict: 'UNHEALTHY', connected: false });
  });

  it('a wrong password is UNHEALTHY / a failed connect, named as an authentication failure', async () => {
    const env = toolEnv({ REDIS_URL: `redis://chat:${WRONG_PASSWORD}@127.0.0.1:${redis.port}` });
    const [check, health] = await Promise.all([runTool(CHECK, [], env), runTool(HEALTH, ['--json'], env)]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^✘ connect .*authentication failed: WRONGPASS/m);
    expect(health.code).toBe(1);
    expect(parseJson<HealthSample>(health).reasons).toEqual([
      expect.stringMatching(/^authentication failed/),
    ]);
  });

  it('REDIS_ENABLED=false: nothing to check, exit 1', async () => {
    const env = toolEnv({ REDIS_ENABLED: 'false' });
    const [check, health] = await Promise.all([runTool(CHECK, [], env), runTool(HEALTH, [], env)]);
    for (const run of [check, health]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/REDIS_ENABLED is false.*nothing to check/);
    }
  });
});

describe('secrets', () => {
  it('no password appears in any output of the tools or of the service', () => {
    expect(outputs.length).toBeGreaterThan(20);
    const everything = [...outputs, service.output].join('\n');
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });
});
