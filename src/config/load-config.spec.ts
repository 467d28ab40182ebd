import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigValidationError, loadConfig } from './load-config.js';

const storage = mkdtempSync(join(tmpdir(), 'config-spec-'));
const base = { STORAGE_DIR: storage };
const SECRET = 'a-production-secret-of-at-least-32-chars!';
const REDIS_URL_RULE =
  'REDIS_URL must be a redis:// or rediss:// URL with a host, a port from 1 to 65535 and no path, query ' +
  'or fragment (the database goes in REDIS_DB; percent-encode @ : / # ? in a password)';
const ADMIN_HASH = '$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS'; // "changeit", cost 10
const adminLogin = (hash = ADMIN_HASH) => ({ ADMIN_UI_USERNAME: 'admin', ADMIN_UI_PASSWORD_HASH: hash });
const OLLAMA_URL_RULE =
  'OLLAMA_URL must be an http:// or https:// URL with a host, a port from 1 to 65535 and no credentials, ' +
  'query or fragment';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('starts from the embedded defaults: one worker, SQLite, Redis off', () => {
    const config = loadConfig(base);
    expect(config.server).toEqual({
      nodeEnv: 'development',
      host: '0.0.0.0',
      port: 3000,
      workers: 1,
      shutdownGraceMs: 10000,
      shutdownDrainDelayMs: 1000,
      maxHttpConnections: 10000,
      demoUi: true,
    });
    expect(config.redis).toMatchObject({
      enabled: false,
      mode: 'standalone',
      db: 0,
      keyPrefix: 'socketio',
      sessionTtlSeconds: 3600,
    });
    expect(config.database).toEqual({ type: 'sqlite', location: 'data/chat.db' });
    expect(config.ollama).toEqual({
      url: 'http://localhost:11434',
      model: 'llama3.2',
      required: false,
      connectTimeoutMs: 30000,
      idleTimeoutMs: 30000,
      assistantEnabled: true,
    });
    expect(config.security).toEqual({ jwtSecret: undefined, corsOrigins: [], maxConnectionsPerUser: 20 });
  });

  it('serves the demo page unless NODE_ENV=production, where DEMO_UI=true still turns it on', () => {
    const production = {
      ...base,
      NODE_ENV: 'production',
      JWT_SECRET: SECRET,
      CORS_ORIGINS: 'https://a.example',
    };
    expect(loadConfig({ ...base, NODE_ENV: 'test' }).server.demoUi).toBe(true);
    expect(loadConfig({ ...base, DEMO_UI: 'false' }).server.demoUi).toBe(false);
    expect(loadConfig(production).server.demoUi).toBe(false);
    expect(loadConfig({ ...production, DEMO_UI: 'true' }).server.demoUi).toBe(true);
    expect(problemsOf({ ...base, DEMO_UI: 'sometimes' })).toEqual([
      'DEMO_UI must be a boolean (true/false/1/0)',
    ]);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ ...base, PORT: '', REDIS_URL: '' }).server.port).toBe(3000);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['false', false],
    ['False', false],
    ['0', false],
  ])('reads REDIS_ENABLED=%s as %s (not as a truthy string)', (value, expected) => {
    const config = loadConfig({ ...base, REDIS_ENABLED: value, REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.redis.enabled).toBe(expected);
  });

  it.each<[Record<string, string>, string]>([
    [{ PORT: '0' }, 'PORT must be an integer from 1 to 65535'],
    [{ PORT: '70000' }, 'PORT must be an integer from 1 to 65535'],
    [{ PORT: '80abc' }, 'PORT must be an integer from 1 to 65535'],
    [{ WORKERS: '0' }, 'WORKERS must be an integer >= 1 or "auto"'],
    [{ WORKERS: 'many' }, 'WORKERS must be an integer >= 1 or "auto"'],
    [
      { WORKERS: '4' },
      'WORKERS greater than 1 (or "auto") requires REDIS_ENABLED=true: workers share rooms and sessions through Redis',
    ],
    [
      { WORKERS: 'auto' },
      'WORKERS greater than 1 (or "auto") requires REDIS_ENABLED=true: workers share rooms and sessions through Redis',
    ],
    [{ REDIS_ENABLED: 'yes please' }, 'REDIS_ENABLED must be a boolean (true/false/1/0)'],
    [{ REDIS_ENABLED: 'true' }, 'REDIS_URL is required when REDIS_ENABLED=true'],
    [{ REDIS_URL: 'http://cache:6379' }, REDIS_URL_RULE],
    // Both pass a pattern but not the URL parser the Redis clients use: they must fail here, not at boot.
    [{ REDIS_URL: 'redis://cache:99999' }, REDIS_URL_RULE],
    [{ REDIS_URL: 'redis://:p#ss@cache:6379' }, REDIS_URL_RULE],
    [{ REDIS_URL: 'redis://cache:0' }, REDIS_URL_RULE],
    [{ REDIS_URL: 'redis:///' }, REDIS_URL_RULE],
    // ioredis would take the database from the path and a password from the query (unredacted in logs).
    [{ REDIS_URL: 'redis://cache:6379/2' }, REDIS_URL_RULE],
    [{ REDIS_URL: 'redis://cache:6379?password=hunter2' }, REDIS_URL_RULE],
    // An all-digit password with an unencoded #: parses, as host "u" port 123 and a fragment.
    [{ REDIS_URL: 'redis://u:123#4@cache:6379' }, REDIS_URL_RULE],
    [{ REDIS_DB: '99' }, 'REDIS_DB must be an integer from 0 to 15'],
    [{ REDIS_DB: '-1' }, 'REDIS_DB must be an integer from 0 to 15'],
    [{ REDIS_MODE: 'replica' }, 'REDIS_MODE must be standalone, sentinel or cluster'],
    [
      { REDIS_ENABLED: 'true', REDIS_MODE: 'sentinel' },
      'REDIS_SENTINELS is required when REDIS_MODE=sentinel',
    ],
    [
      { REDIS_ENABLED: 'true', REDIS_MODE: 'sentinel' },
      'REDIS_SENTINEL_NAME is required when REDIS_MODE=sentinel',
    ],
    [
      { REDIS_ENABLED: 'true', REDIS_MODE: 'cluster' },
      'REDIS_CLUSTER_NODES is required when REDIS_MODE=cluster',
    ],
    [{ REDIS_MODE: 'cluster', REDIS_DB: '3' }, 'REDIS_DB must be 0 when REDIS_MODE=cluster'],
    [{ REDIS_SENTINELS: 'a:1,b' }, 'REDIS_SENTINELS must be a comma list of host:port (port 1-65535)'],
    [{ REDIS_SENTINELS: 'a:1,b:70000' }, 'REDIS_SENTINELS must be a comma list of host:port (port 1-65535)'],
    [{ REDIS_CLUSTER_NODES: 'a:0' }, 'REDIS_CLUSTER_NODES must be a comma list of host:port (port 1-65535)'],
    [{ REDIS_KEY_PREFIX: 'has space' }, 'REDIS_KEY_PREFIX must be 1-64 characters of A-Z a-z 0-9 : _ . -'],
    [{ REDIS_SESSION_TTL: '5' }, 'REDIS_SESSION_TTL must be an integer number of seconds from 10 to 604800'],
    [{ DATABASE_URL: 'mysql://db/chat' }, 'DATABASE_URL must be sqlite:<path> or a postgres:// URL'],
    [{ OLLAMA_URL: 'localhost:11434' }, OLLAMA_URL_RULE],
    [{ OLLAMA_URL: 'http://ollama:99999' }, OLLAMA_URL_RULE],
    // fetch refuses credentials, quoting the whole URL (password included) in its error.
    [{ OLLAMA_URL: 'http://user:secret@ollama:11434' }, OLLAMA_URL_RULE],
    [{ OLLAMA_URL: 'http://ollama:11434#x' }, OLLAMA_URL_RULE],
    [{ OLLAMA_REQUIRED: 'maybe' }, 'OLLAMA_REQUIRED must be a boolean (true/false/1/0)'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV must be development, production or test'],
    [
      { NODE_ENV: 'production', CORS_ORIGINS: 'https://chat.example.com' },
      'JWT_SECRET is required when NODE_ENV=production',
    ],
    [
      { NODE_ENV: 'production', JWT_SECRET: 'short', CORS_ORIGINS: 'https://chat.example.com' },
      'JWT_SECRET must be at least 32 characters when NODE_ENV=production',
    ],
    ...[
      'change-me-to-at-least-32-random-characters',
      'a-real-looking-secret-but-CHANGEME-0123456',
      'this-is-an-example-secret-of-forty-chars!!',
    ].map((secret): [Record<string, string>, string] => [
      { NODE_ENV: 'production', JWT_SECRET: secret, CORS_ORIGINS: 'https://chat.example.com' },
      'JWT_SECRET is a placeholder (the example value, or it contains change-me or example): generate one, ' +
        'e.g. `openssl rand -base64 48`',
    ]),
    [{ MAX_CONNECTIONS_PER_USER: '0' }, 'MAX_CONNECTIONS_PER_USER must be an integer from 1 to 10000'],
    [{ MAX_HTTP_CONNECTIONS: '10' }, 'MAX_HTTP_CONNECTIONS must be an integer from 100 to 1000000'],
    [{ PROBE_PORT: '70000' }, 'PROBE_PORT must be an integer from 1 to 65535'],
    [{ PROBE_PORT: 'x' }, 'PROBE_PORT must be an integer from 1 to 65535'],
    [{ PORT: '3000', PROBE_PORT: '3000' }, 'PROBE_PORT must differ from PORT'],
    [{ NODE_ENV: 'production', JWT_SECRET: SECRET }, 'CORS_ORIGINS is required when NODE_ENV=production'],
    [
      { NODE_ENV: 'production', JWT_SECRET: SECRET, CORS_ORIGINS: '*' },
      'CORS_ORIGINS must not be * when NODE_ENV=production',
    ],
    [
      { CORS_ORIGINS: 'chat.example.com' },
      'CORS_ORIGINS must be * or a comma list of http(s)://host[:port] origins',
    ],
    [
      { SHUTDOWN_GRACE_MS: '10' },
      'SHUTDOWN_GRACE_MS must be an integer number of milliseconds from 1000 to 600000',
    ],
    [
      { SHUTDOWN_DRAIN_DELAY_MS: '-1' },
      'SHUTDOWN_DRAIN_DELAY_MS must be an integer number of milliseconds from 0 to 600000',
    ],
    [{ SHUTDOWN_DRAIN_DELAY_MS: '10000' }, 'SHUTDOWN_DRAIN_DELAY_MS must be less than SHUTDOWN_GRACE_MS'],
    [
      { SHUTDOWN_GRACE_MS: '5000', SHUTDOWN_DRAIN_DELAY_MS: '6000' },
      'SHUTDOWN_DRAIN_DELAY_MS must be less than SHUTDOWN_GRACE_MS',
    ],
  ])('rejects %j: "%s"', (env, message) => {
    expect(problemsOf(env)).toContain(message);
  });

  it.each([
    'redis://127.0.0.1:6379',
    'redis://[::1]:6379',
    'rediss://chat:p%23ss@cache.example.com:6380',
    'redis://cache',
    'redis://cache:6379/',
  ])('accepts REDIS_URL %s', (url) => {
    expect(problemsOf({ REDIS_ENABLED: 'true', REDIS_URL: url })).toEqual([]);
  });

  it('reports every problem at once, one line each, and never a value', () => {
    const problems = problemsOf({
      REDIS_DB: '99',
      REDIS_MODE: 'bogus',
      PORT: 'x',
      JWT_SECRET: 'hunter2',
      NODE_ENV: 'production',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'REDIS_DB must be an integer from 0 to 15',
        'REDIS_MODE must be standalone, sentinel or cluster',
        'PORT must be an integer from 1 to 65535',
      ]),
    );
    expect(problems.join('\n')).not.toMatch(/hunter2|bogus|99/);
    // PORT=x fails @IsInt, @Min and @Max alike: said once.
    expect(problems.filter((line) => line.startsWith('PORT '))).toHaveLength(1);
    expect(problems.every((line) => !line.includes('\n'))).toBe(true);
  });

  it('refuses a STORAGE_DIR it cannot write to', () => {
    const file = join(storage, 'a-file');
    writeFileSync(file, '');
    expect(problemsOf({ STORAGE_DIR: join(file, 'below-a-file') })).toEqual([
      'STORAGE_DIR must be a writable directory (it could not be created or written)',
    ]);
  });

  it('builds the production shape: Redis, workers, sentinel nodes, origins, PostgreSQL', () => {
    const config = loadConfig({
      ...base,
      NODE_ENV: 'production',
      WORKERS: '4',
      REDIS_ENABLED: '1',
      REDIS_MODE: 'sentinel',
      REDIS_URL: 'redis://:pw@ignored:6379',
      REDIS_SENTINELS: 'sentinel-0:26379,sentinel-1:26379',
      REDIS_SENTINEL_NAME: 'mymaster',
      JWT_SECRET: SECRET,
      CORS_ORIGINS: 'https://chat.example.com, https://admin.example.com',
      DATABASE_URL: 'postgres://chat@db:5432/chat',
      OLLAMA_URL: 'http://ollama:11434/',
    });
    expect(config.server.workers).toBe(4);
    expect(config.redis.sentinels).toEqual([
      { host: 'sentinel-0', port: 26379 },
      { host: 'sentinel-1', port: 26379 },
    ]);
    expect(config.security.corsOrigins).toEqual(['https://chat.example.com', 'https://admin.example.com']);
    expect(config.database).toEqual({ type: 'postgres', location: 'postgres://chat@db:5432/chat' });
    expect(config.ollama.url).toBe('http://ollama:11434');
  });

  it('resolves WORKERS=auto to the CPU count when Redis is on', () => {
    const config = loadConfig({
      ...base,
      WORKERS: 'auto',
      REDIS_ENABLED: 'true',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(config.server.workers).toBeGreaterThanOrEqual(1);
  });

  it('turns the admin UI on with both ADMIN_UI_USERNAME and a bcrypt hash, read-only unless told', () => {
    expect(loadConfig(base).adminUi).toBeUndefined();
    const on = { username: 'admin', passwordHash: ADMIN_HASH, readonly: true, mode: 'development' };
    expect(loadConfig({ ...base, ...adminLogin(), ADMIN_UI_USERNAME: ' admin ' }).adminUi).toEqual(on);
    const production = { NODE_ENV: 'production', JWT_SECRET: SECRET, CORS_ORIGINS: 'https://a.example.com' };
    const writable = { ...base, ...production, ...adminLogin(), ADMIN_UI_READONLY: 'false' };
    expect(loadConfig(writable).adminUi).toEqual({ ...on, readonly: false, mode: 'production' });
    // Production refuses half a login as everywhere: the admin UI never runs without authentication.
    expect(problemsOf({ ...production, ADMIN_UI_PASSWORD_HASH: ADMIN_HASH })).toEqual([
      'ADMIN_UI_USERNAME is required when ADMIN_UI_PASSWORD_HASH is set: the admin UI needs both',
    ]);
    expect(problemsOf({ ADMIN_UI_USERNAME: 'admin' })).toEqual([
      'ADMIN_UI_PASSWORD_HASH is required when ADMIN_UI_USERNAME is set: the admin UI needs both',
    ]);
  });

  it('refuses a malformed or weak admin UI hash without quoting it, and accepts $2a$, $2b$ and $2y$', () => {
    for (const hash of ['secret-password', ADMIN_HASH.slice(0, -1), ADMIN_HASH.replace('$2b$', '$2x$')]) {
      const problems = problemsOf(adminLogin(hash));
      expect(problems).toEqual([expect.stringMatching(/^ADMIN_UI_PASSWORD_HASH must be a bcrypt hash: /)]);
      expect(problems.join('\n')).not.toContain(hash);
    }
    for (const cost of ['$04$', '$15$'])
      expect(problemsOf(adminLogin(ADMIN_HASH.replace('$10$', cost)))).toEqual([
        'ADMIN_UI_PASSWORD_HASH must have a bcrypt cost from 10 to 14',
      ]);
    for (const prefix of ['$2a$', '$2y$'])
      expect(problemsOf(adminLogin(ADMIN_HASH.replace('$2b$', prefix)))).toEqual([]);
  });
});
