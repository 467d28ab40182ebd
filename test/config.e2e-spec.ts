import { sleep } from './support/ports.js';
import { RedisServer } from './support/redis-server.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

/** A stack frame as Node prints it ("    at fn (file:line:col)"). */
const STACK_FRAME = /^\s+at .+[:(]/m;

async function exitOf(env: Record<string, string>) {
  const service = await ServiceProcess.launch(env);
  const result = await service.exited;
  return { ...result, output: service.output };
}

afterAll(() => stopAllServices());

describe('configuration errors stop the process before any port opens', () => {
  it.each<[string, Record<string, string>, string]>([
    [
      'Redis on without REDIS_URL',
      { REDIS_ENABLED: 'true' },
      'REDIS_URL is required when REDIS_ENABLED=true',
    ],
    ['REDIS_DB=99', { REDIS_DB: '99' }, 'REDIS_DB must be an integer from 0 to 15'],
    [
      'WORKERS=4 without Redis',
      { WORKERS: '4' },
      'WORKERS greater than 1 (or "auto") requires REDIS_ENABLED=true',
    ],
    [
      'REDIS_ENABLED=false read as false, not as a non-empty string',
      { WORKERS: '4', REDIS_ENABLED: 'false', REDIS_URL: 'redis://127.0.0.1:1' },
      'WORKERS greater than 1 (or "auto") requires REDIS_ENABLED=true',
    ],
    ['a bad REDIS_MODE', { REDIS_MODE: 'replica' }, 'REDIS_MODE must be standalone, sentinel or cluster'],
    [
      // Passes a redis:// pattern; only the URL parser refuses it (it used to crash the start with a stack).
      'a REDIS_URL with an unencoded # in its password',
      { REDIS_ENABLED: 'true', REDIS_URL: 'redis://:p#ss@127.0.0.1:6379' },
      'REDIS_URL must be a redis:// or rediss:// URL with a host, a port from 1 to 65535 and no path, query ' +
        'or fragment (the database goes in REDIS_DB; percent-encode @ : / # ? in a password)',
    ],
    [
      'production without JWT_SECRET',
      { NODE_ENV: 'production', CORS_ORIGINS: 'https://chat.example.com' },
      'JWT_SECRET is required when NODE_ENV=production',
    ],
  ])('%s: exit 1, naming the variable, no stack trace', async (_case, env, line) => {
    const { code, output } = await exitOf(env);
    expect(code).toBe(1);
    expect(output).toContain(`Invalid configuration: ${line}`);
    expect(output).not.toMatch(STACK_FRAME);
    expect(output).not.toContain('Starting Nest application');
  });

  it('prints one line per problem and never the value of a secret', async () => {
    const { code, output } = await exitOf({
      NODE_ENV: 'production',
      JWT_SECRET: 'tooShortButStillSecret',
      REDIS_ENABLED: 'true',
      REDIS_URL: 'redis://:TopSecretRedisPw@cache:6379',
      REDIS_DB: '99',
      CORS_ORIGINS: '*',
    });
    expect(code).toBe(1);
    const lines = output.trim().split('\n');
    expect(lines).toEqual([
      'Invalid configuration: REDIS_DB must be an integer from 0 to 15',
      'Invalid configuration: JWT_SECRET must be at least 32 characters when NODE_ENV=production',
      'Invalid configuration: CORS_ORIGINS must not be * when NODE_ENV=production',
    ]);
    expect(output).not.toContain('tooShortButStillSecret');
    expect(output).not.toContain('TopSecretRedisPw');
  });
});

describe('a REDIS_URL with a password, on a hardened Redis', () => {
  const password = 'Pw-That-Must-Never-Be-Printed-42';
  let redis: RedisServer;

  beforeAll(async () => {
    // As config/redis.conf ships it: a password, and the commands an attacker wants renamed away.
    redis = await RedisServer.start({
      password,
      renameCommands: { CONFIG: '', KEYS: '', FLUSHALL: '', FLUSHDB: '' },
    });
    const probe = redis.client();
    await expect(probe.call('CONFIG', 'GET', 'maxmemory')).rejects.toThrow(/unknown command/);
    probe.disconnect();
  });
  afterAll(() => redis.stop());

  it('connects, logs the URL redacted, and never shows the password in any output', async () => {
    const service = await ServiceProcess.start({ REDIS_ENABLED: 'true', REDIS_URL: redis.url });
    await service.waitForOutput(/Redis command connected/);
    const ready = await service.get<{ checks: { redis: boolean } }>('/api/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.redis).toBe(true);
    expect(service.output).toContain(`Redis manager initialized: redis://***@127.0.0.1:${redis.port}`);

    const { code } = await service.stop();
    expect(code).toBe(0);
    expect(service.output).not.toContain(password);
    expect(JSON.stringify(ready.body)).not.toContain(password);
  });

  it('with a wrong password: readiness says Redis is down, the password still never printed', async () => {
    const wrong = `redis://:Wrong-${password}@127.0.0.1:${redis.port}`;
    const service = await ServiceProcess.start({ REDIS_ENABLED: 'true', REDIS_URL: wrong });
    const ready = await service.get<{ checks: { redis: boolean } }>('/api/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.redis).toBe(false);
    // The adapter's dropped SUBSCRIBE promise rejects with the AUTH error: logged, not fatal.
    await sleep(1000);
    expect(service.alive).toBe(true);
    await service.stop();
    expect(service.output).not.toContain(password);
  });
});
