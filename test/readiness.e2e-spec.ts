import { FakeOllama } from './support/fake-ollama.js';
import { waitFor } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

interface Readiness {
  status: 'ready' | 'not_ready';
  checks: { database: boolean; ollama: boolean; redis: boolean; storage: boolean };
  security_validated: boolean;
  multi_worker_support: boolean;
  workers: number;
  details: Record<string, { status: string; latency_ms: number; message?: string }>;
}

const countOf = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

afterAll(() => stopAllServices());

describe('the embedded default (no Redis, nothing on the Ollama port)', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await ServiceProcess.start();
  });
  afterAll(() => service.stop());

  it('is alive and ready, with Redis and Ollama reported false', async () => {
    expect(await service.get('/api/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await service.get<Readiness>('/api/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      status: 'ready',
      checks: { database: true, ollama: false, redis: false, storage: true },
      security_validated: false,
      multi_worker_support: false,
      workers: 1,
      details: {
        database: { status: 'up', latency_ms: expect.any(Number) },
        storage: { status: 'up', latency_ms: expect.any(Number) },
        ollama: { status: 'down', latency_ms: expect.any(Number), message: expect.any(String) },
        redis: { status: 'disabled', latency_ms: 0, message: 'REDIS_ENABLED=false' },
        redis_pubsub: { status: 'disabled', latency_ms: 0, message: 'REDIS_ENABLED=false' },
        security: { status: 'down', latency_ms: 0, message: expect.stringContaining('JWT_SECRET') },
      },
    });
  });

  it('warns loudly, once, that this mode is single-worker only', () => {
    expect(countOf(service.output, /SINGLE-WORKER ONLY/)).toBe(1);
  });
});

describe('with Redis on', () => {
  let redis: RedisServer;
  let service: ServiceProcess;
  beforeAll(async () => {
    redis = await RedisServer.start();
    service = await ServiceProcess.start({
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      JWT_SECRET: 'x'.repeat(40),
      CORS_ORIGINS: 'https://chat.example.com',
      SHUTDOWN_GRACE_MS: '5000',
    });
  });
  afterAll(async () => {
    await service.stop('SIGKILL');
    await redis.stop();
  });

  it('is ready with redis and multi-worker support, and a validated security posture', async () => {
    const ready = await waitFor(
      async () => {
        const answer = await service.get<Readiness>('/api/ready');
        return answer.status === 200 ? answer : undefined;
      },
      { what: 'readiness 200' },
    );
    expect(ready.body.checks).toEqual({ database: true, ollama: false, redis: true, storage: true });
    expect(ready.body.multi_worker_support).toBe(true);
    expect(ready.body.security_validated).toBe(true);
    expect(ready.body.details.redis.status).toBe('up');
    expect(ready.body.details.redis_pubsub.status).toBe('up');
  });

  it('turns 503 within 10 s of Redis dying, stays alive, logs the loss once per client, recovers within 15 s', async () => {
    await redis.kill();
    const killedAt = Date.now();
    const down = await waitFor(
      async () => {
        const answer = await service.get<Readiness>('/api/ready');
        return answer.status === 503 ? answer : undefined;
      },
      { timeoutMs: 10_000, what: 'readiness 503 after Redis died' },
    );
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(down.body.status).toBe('not_ready');
    expect(down.body.checks.redis).toBe(false);
    expect(down.body.multi_worker_support).toBe(false);
    expect((await service.get('/api/health')).status).toBe(200);

    // Several seconds of retries later: still one "lost" line per client, not one per retry.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(countOf(service.output, /Redis \w+ connection lost/)).toBe(3);

    await redis.restart();
    const restartedAt = Date.now();
    await waitFor(async () => (await service.get('/api/ready')).status === 200, {
      timeoutMs: 15_000,
      what: 'readiness 200 after Redis came back',
    });
    expect(Date.now() - restartedAt).toBeLessThan(15_000);
    await service.waitForOutput(/Redis subscriber connection restored/);
    expect(countOf(service.output, /Redis \w+ connection restored/)).toBe(3);
  });

  it('with WORKERS > 1 and no worker up (its database unreachable): liveness 200, readiness the contract JSON 503', async () => {
    // Nothing listens on port 1: no worker can open its database, so none ever listens.
    const stuck = await ServiceProcess.launch({
      WORKERS: '2',
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
      DATABASE_URL: 'postgres://chat@127.0.0.1:1/chat',
    });
    try {
      const health = async () => (await stuck.get('/api/health').catch(() => ({ status: 0 }))).status;
      await waitFor(async () => stuck.alive && (await health()) === 200, {
        timeoutMs: 15_000,
        what: 'liveness',
      });
      expect(await stuck.get('/api/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
      // As a worker (Express) answers: a trailing slash and HEAD too.
      expect((await stuck.get('/api/health/')).status).toBe(200);
      expect((await fetch(`${stuck.baseUrl}/api/health`, { method: 'HEAD' })).status).toBe(200);
      const ready = await stuck.get<Readiness>('/api/ready');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        status: 'not_ready',
        checks: { database: false, ollama: false, redis: false, storage: false },
        multi_worker_support: false,
        workers: 2,
      });
      expect(ready.body.details.workers).toMatchObject({ status: 'down' });
      expect(stuck.workerPorts().size).toBe(0);
    } finally {
      await stuck.stop('SIGKILL');
    }
  });

  it('exits 0 on SIGTERM within SHUTDOWN_GRACE_MS and quits its Redis connections', async () => {
    const observer = redis.client();
    const named = async () =>
      ((await observer.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .filter((l) => l.includes(`:${service.child.pid}`));
    expect(await named()).toHaveLength(3);

    const started = Date.now();
    const { code } = await service.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(service.output).toContain('Shutdown complete');
    await waitFor(async () => (await named()).length === 0, {
      timeoutMs: 2000,
      what: 'Redis connections closed',
    });
    observer.disconnect();
  });
});

describe('Ollama in readiness', () => {
  let ollama: FakeOllama;
  let optional: ServiceProcess;
  let required: ServiceProcess;
  beforeAll(async () => {
    ollama = await FakeOllama.start();
    [optional, required] = await Promise.all([
      ServiceProcess.start({ OLLAMA_URL: ollama.url }),
      ServiceProcess.start({ OLLAMA_URL: ollama.url, OLLAMA_REQUIRED: 'true' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([optional.stop(), required.stop()]);
    await ollama.stop();
  });
  afterEach(async () => {
    ollama.mode = 'ok';
    await ollama.start();
  });

  it('reports a running Ollama as up', async () => {
    for (const service of [optional, required]) {
      const ready = await service.get<Readiness>('/api/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.checks.ollama).toBe(true);
    }
  });

  it('answers within 2 s when Ollama hangs; only OLLAMA_REQUIRED=true turns that into 503', async () => {
    ollama.mode = 'hang';
    const [soft, hard] = await Promise.all([
      optional.get<Readiness>('/api/ready'),
      required.get<Readiness>('/api/ready'),
    ]);
    for (const answer of [soft, hard]) {
      expect(answer.elapsedMs).toBeLessThan(2000);
      expect(answer.body.checks.ollama).toBe(false);
      expect(answer.body.details.ollama.message).toMatch(/timed out/);
    }
    expect(soft.status).toBe(200);
    expect(soft.body.status).toBe('ready');
    expect(hard.status).toBe(503);
    expect(hard.body.status).toBe('not_ready');
  });

  it('keeps readiness 200 when Ollama is down, unless it is required', async () => {
    await ollama.stop();
    const soft = await optional.get<Readiness>('/api/ready');
    const hard = await required.get<Readiness>('/api/ready');
    expect([soft.status, soft.body.checks.ollama]).toEqual([200, false]);
    expect([hard.status, hard.body.checks.ollama]).toEqual([503, false]);
    expect(hard.body.checks.database).toBe(true);
  });
});
