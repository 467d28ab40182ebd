import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';
// Socket.IO's transport layer, where the heartbeat defaults live (socket.io passes its options through).
import { Server as EngineServer } from 'engine.io';
import { parseDocument } from 'yaml';
import { SHUTDOWN_MARGIN_MS } from '../src/cluster/worker-supervisor.js';
import { EnvironmentVariables } from '../src/config/env.schema.js';
import { loadConfig } from '../src/config/load-config.js';
import { HealthController } from '../src/health/health.controller.js';
import { securityProblems } from '../src/health/security-posture.js';

/**
 * Static checks of compose.yaml and config/haproxy/haproxy.cfg against the service itself: each app
 * instance's environment (the image's ENV, then compose's, interpolated as compose does) goes through the
 * service's own schema and loadConfig; URLs, users and ports are checked against the services and config
 * files they name; `haproxy -c` validates the proxy's file. No Docker engine, no container.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE_FILE = 'compose.yaml';
const HAPROXY_CFG = 'config/haproxy/haproxy.cfg';
const REDIS_CONF = 'config/redis.conf';
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

// ---- compose's interpolation -----------------------------------------------------------------------

/** The secrets compose.yaml must demand (`${NAME:?message}`), with test values of their documented shape. */
const SECRETS: Record<string, string> = {
  JWT_SECRET: randomBytes(48).toString('base64'),
  REDIS_PASSWORD: randomBytes(32).toString('hex'),
  REDIS_ADMIN_PASSWORD: randomBytes(32).toString('hex'),
  POSTGRES_PASSWORD: randomBytes(32).toString('hex'),
};

/**
 * Compose's interpolation of one string: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
 * `${NAME:?message}`, `${NAME?message}`, `${NAME:+other}`, `${NAME+other}`. A required variable that is
 * missing is collected in `missing` (compose refuses to start, printing its message). Any other `$` is
 * an error, as it is for compose.
 */
function interpolate(text: string, env: Record<string, string>, missing: Set<string>): string {
  return text.replace(
    /\$(?:(\$)|\{([A-Za-z_]\w*)(?:(:?)([-?+])([^}]*))?\}|([A-Za-z_]\w*)|)/g,
    (whole, dollar, name, colon, operator, argument, bare) => {
      if (dollar) return '$';
      if (bare) return env[bare] ?? '';
      if (!name) throw new Error(`invalid interpolation in ${JSON.stringify(text)}`);
      const value = env[name];
      const unset = colon ? value === undefined || value === '' : value === undefined;
      switch (operator) {
        case undefined:
          return value ?? '';
        case '-':
          return unset ? argument : value;
        case '?':
          if (unset) missing.add(name);
          return value ?? '';
        case '+':
          return unset ? '' : argument;
      }
      throw new Error(`unexpected ${whole}`);
    },
  );
}

/** Every string of the file interpolated (compose does it to values, not to keys). */
function interpolateTree<T>(node: T, env: Record<string, string>, missing: Set<string>): T {
  if (typeof node === 'string') return interpolate(node, env, missing) as T;
  if (Array.isArray(node)) return node.map((item) => interpolateTree(item, env, missing)) as T;
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, interpolateTree(value, env, missing)]),
    ) as T;
  }
  return node;
}

// ---- compose.yaml ----------------------------------------------------------------------------------

type Depends = string[] | Record<string, { condition?: string; required?: boolean }>;
interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, unknown> | string[];
  profiles?: string[];
  depends_on?: Depends;
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  ports?: (string | number | { target?: number; published?: string | number })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  entrypoint?: string | string[];
  command?: string | string[];
  stop_grace_period?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeDocument = parseDocument(read(COMPOSE_FILE), { merge: true });
const raw = composeDocument.toJS({ maxAliasCount: -1 }) as ComposeFile;

function interpolated(env: Record<string, string>): { compose: ComposeFile; missing: string[] } {
  const missing = new Set<string>();
  const compose = interpolateTree(raw, env, missing);
  return { compose, missing: [...missing].sort() };
}
/** As compose runs it with the secrets set and nothing else in the environment: every default applies. */
const { compose } = interpolated(SECRETS);
const services = compose.services;

const appNames = Object.keys(services).filter((name) => services[name].build !== undefined);
const profiled = (name: string) => (services[name].profiles ?? []).length > 0;

function environmentOf(service: ComposeService): Record<string, unknown> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(
    env.map((item) => [item.split('=')[0], item.includes('=') ? item.slice(item.indexOf('=') + 1) : null]),
  );
}
const stringsOf = (env: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)]));

function dependsOn(service: ComposeService): Record<string, { condition?: string; required?: boolean }> {
  const deps = service.depends_on ?? {};
  return Array.isArray(deps) ? Object.fromEntries(deps.map((name) => [name, {}])) : deps;
}

/** `source:target[:mode]` mounts (and the long syntax) as { source, target, readOnly }. */
function mountsOf(service: ComposeService) {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      return { source: volume.source, target: volume.target, readOnly: volume.read_only === true };
    }
    const [source, target, mode] = volume.split(':');
    return { source, target, readOnly: (mode ?? '').split(',').includes('ro') };
  });
}

const normalizedPath = (path: string | undefined) => (path ?? '').replace(/^\.\//, '');

/** Compose durations: Go's format (`20s`, `1m30s`, `1500ms`), in milliseconds. */
function durationMs(duration: string | undefined): number {
  if (duration === undefined) return 10_000; // compose's default stop_grace_period
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 };
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
  if (parts.map((p) => p[0]).join('') !== duration) throw new Error(`not a duration: ${duration}`);
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * units[unit], 0);
}

// ---- the image's own environment ------------------------------------------------------------------

/** The final stage's `ENV` of the Dockerfile: a container starts with these, then compose's environment. */
function imageEnvironment(): Record<string, string> {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const lastStage = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const [, assignments] of lastStage.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const [, key, value] of assignments.matchAll(/([A-Za-z_]\w*)=(\S*)/g)) env[key] = value;
  }
  return env;
}

// ---- config/haproxy/haproxy.cfg -------------------------------------------------------------------

/** Directives without comments, each as its words (HAProxy's syntax: no `#` inside our values). */
const haproxyLines = read(HAPROXY_CFG)
  .split('\n')
  .map((line) => line.replace(/#.*$/, '').trim())
  .filter(Boolean)
  .map((line) => line.split(/\s+/));
const directive = (...words: string[]) =>
  haproxyLines.filter((line) => words.every((word, index) => line[index] === word));

/** HAProxy times: a number with us, ms, s, m, h or d (milliseconds when there is no unit). */
function haproxyMs(value: string | undefined): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value ?? '');
  if (!match) throw new Error(`not an HAProxy time: ${value}`);
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Number(match[1]) * units[match[2] ?? 'ms'];
}

/** `presetenv NAME value` of the global section: the defaults of the cfg's `${NAME}` references. */
const haproxyDefaults = Object.fromEntries(directive('presetenv').map(([, name, value]) => [name, value]));
/** `server <name> "${VAR}" ...`: the servers and the variable holding each one's address. */
const haproxyServers = directive('server').map(([, name, address, ...options]) => ({
  name,
  variable: /^"\$\{(\w+)\}"$/.exec(address)?.[1],
  options,
}));
const optionAfter = (words: string[], option: string) => words[words.indexOf(option) + 1];

// ---- the service's own facts -----------------------------------------------------------------------

/** As test/k8s-manifests.spec.ts: the variables loadConfig reads and class-validator validates. */
const readByLoadConfig = new Set(Object.keys(new EnvironmentVariables()));
const validatedProperties = new Set(
  getMetadataStorage()
    .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
    .map((metadata) => metadata.propertyName),
);
const variables = new Set([...readByLoadConfig].filter((name) => validatedProperties.has(name)));

/** The full path Nest serves a HealthController method on, from the same metadata Nest routes by. */
function routeOf(handler: (...args: never[]) => unknown): string {
  expect(Reflect.getMetadata(METHOD_METADATA, handler)).toBe(RequestMethod.GET);
  const segments = [
    Reflect.getMetadata(PATH_METADATA, HealthController),
    Reflect.getMetadata(PATH_METADATA, handler),
  ] as string[];
  return (
    '/' +
    segments
      .map((s) => s.replace(/^\/+|\/+$/g, ''))
      .filter(Boolean)
      .join('/')
  );
}

/** Socket.IO's heartbeat as this service runs it: the engine's defaults, which src does not override. */
function heartbeat(): { pingInterval: number; pingTimeout: number } {
  const engine = new EngineServer();
  try {
    const { pingInterval, pingTimeout } = engine.opts;
    if (pingInterval === undefined || pingTimeout === undefined)
      throw new Error('no engine.io ping defaults');
    return { pingInterval, pingTimeout };
  } finally {
    engine.close();
  }
}

// ---- the checks ------------------------------------------------------------------------------------

describe('compose.yaml', () => {
  // loadConfig creates STORAGE_DIR and checks it is writable: a container's path, so a scratch one here.
  let storage: string;
  beforeAll(() => {
    storage = mkdtempSync(join(tmpdir(), 'compose-'));
  });
  afterAll(() => rmSync(storage, { recursive: true, force: true }));

  /** What an app container's process sees: the image's ENV, then compose's environment over it. */
  const containerEnv = (name: string) => ({
    ...imageEnvironment(),
    ...stringsOf(environmentOf(services[name])),
  });

  const load = (name: string) => loadConfig({ ...containerEnv(name), STORAGE_DIR: storage });

  it('parses cleanly: two app instances built from the Dockerfile, HAProxy, Redis, PostgreSQL', () => {
    const problems = [...composeDocument.errors, ...composeDocument.warnings].map((e) => e.message);
    expect(problems).toEqual([]);
    expect([...appNames].sort()).toEqual(['app1', 'app2']);
    for (const name of appNames) {
      const build = services[name].build;
      const context = typeof build === 'string' ? build : build?.context;
      const dockerfile = typeof build === 'string' ? undefined : build?.dockerfile;
      expect({ name, context: normalizedPath(context), dockerfile: dockerfile ?? 'Dockerfile' }).toEqual({
        name,
        context: '.',
        dockerfile: 'Dockerfile',
      });
      expect(profiled(name)).toBe(false);
    }
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    expect(services.haproxy?.image).toMatch(/^haproxy:2\.6(\D|$)/);
    expect(services.redis?.image).toMatch(/^redis:7(\D|$)/);
    expect(services.postgres?.image).toMatch(/^postgres:15(\D|$)/);
  });

  it('takes every secret from the environment: without them compose refuses to start, naming each', () => {
    expect(interpolated({}).missing).toEqual(Object.keys(SECRETS).sort());
    expect(interpolated(SECRETS).missing).toEqual([]);
    // The file holds no value of them, only the demand: JWT_SECRET is nothing but its variable.
    for (const name of appNames) {
      expect(environmentOf(raw.services[name]).JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
    }
  });

  describe.each(['app1', 'app2'])('%s', (name) => {
    it('sets only variables of EnvironmentVariables, each a string (quoted, never a YAML number or boolean)', () => {
      const env = environmentOf(raw.services[name]);
      expect(Object.keys(env).filter((key) => !variables.has(key))).toEqual([]);
      for (const [key, value] of Object.entries(env)) {
        expect({ key, type: typeof value }).toEqual({ key, type: 'string' });
      }
    });

    it("passes the service's own validation (loadConfig) as a secure multi-worker production setup", () => {
      const config = load(name);
      expect(config.server.nodeEnv).toBe('production');
      expect(config.server.workers).toBeGreaterThan(1);
      expect(config.redis).toMatchObject({ enabled: true, mode: 'standalone' });
      expect(config.database.type).toBe('postgres');
      // What readiness reports as security_validated: a real secret, explicit origins, Redis with a password.
      expect(securityProblems(config)).toEqual([]);
      // The page at :8080 is served, and its origin is allowed; production refuses its name sign-in.
      expect(config.server.demoUi).toBe(true);
      expect(config.security.corsOrigins).toEqual(['http://localhost:8080']);
      expect(interpolated({ ...SECRETS, DEMO_UI: 'false' }).compose.services[name].environment).toMatchObject(
        {
          DEMO_UI: 'false',
        },
      );
      // Without the ollama profile, a plain chat; asked for, the assistant is on and the setup still valid.
      expect(config.ollama).toMatchObject({ assistantEnabled: false, required: false });
      const withOllama = interpolated({ ...SECRETS, ASSISTANT_ENABLED: 'true' }).compose.services[name];
      const assistant = loadConfig({
        ...imageEnvironment(),
        ...stringsOf(environmentOf(withOllama)),
        STORAGE_DIR: storage,
      });
      expect(assistant.ollama.assistantEnabled).toBe(true);
    });
  });

  it('runs both instances with the same configuration: one Redis, one database, one JWT secret', () => {
    const [first, ...others] = appNames.map((name) => containerEnv(name));
    for (const other of others) expect(other).toEqual(first);
    expect(first.REDIS_URL).toBeDefined();
    expect(first.DATABASE_URL).toBeDefined();
  });

  it("REDIS_URL is config/redis.conf's service user, with the password and key prefix Redis is given", () => {
    const env = containerEnv(appNames[0]);
    const url = new URL(env.REDIS_URL);
    const redis = services[url.hostname];
    expect(redis).toBeDefined();
    expect(profiled(url.hostname)).toBe(false);
    const conf = read(REDIS_CONF);
    expect(url.port || '6379').toBe(/^port (\d+)$/m.exec(conf)?.[1]);
    // The ACL user the service is meant to be (redis.conf's header), not the operators' `ops`.
    expect(conf).toMatch(new RegExp(`^user ${url.username} on >__REDIS_PASSWORD__ `, 'm'));
    const redisEnv = stringsOf(environmentOf(redis));
    expect(decodeURIComponent(url.password)).toBe(redisEnv.REDIS_PASSWORD);
    expect(redisEnv.REDIS_PASSWORD).toBe(SECRETS.REDIS_PASSWORD);
    expect(redisEnv.REDIS_ADMIN_PASSWORD).toBe(SECRETS.REDIS_ADMIN_PASSWORD);
    expect(redisEnv.REDIS_KEY_PREFIX).toBe(load(appNames[0]).redis.keyPrefix);
  });

  it('starts Redis with config/redis.conf mounted, every placeholder substituted, listening beyond loopback', () => {
    const redis = services.redis;
    const mount = mountsOf(redis).find((m) => normalizedPath(m.source) === REDIS_CONF);
    expect(mount).toMatchObject({ readOnly: true });
    const script = [redis.entrypoint ?? [], redis.command ?? []].flat().join('\n');
    const placeholders = [...new Set(read(REDIS_CONF).match(/__[A-Z_]+__/g))].sort();
    expect(placeholders).toEqual(['__REDIS_ADMIN_PASSWORD__', '__REDIS_KEY_PREFIX__', '__REDIS_PASSWORD__']);
    for (const placeholder of placeholders) {
      const variable = placeholder.slice(2, -2);
      expect(script).toContain(`s/${placeholder}/$${variable}/g`);
      expect(environmentOf(redis)[variable]).toBeDefined();
    }
    expect(script).toContain(mount!.target);
    // The file binds loopback only (right on a host, unreachable from the other containers).
    expect(script).toMatch(/redis-server \S+ .*--bind /);
    // Healthy means the service's user gets in, not merely that the port is open.
    expect(JSON.stringify(redis.healthcheck?.test)).toMatch(/redis-cli --user chat ping/);
  });

  it("DATABASE_URL is the PostgreSQL service's user, password and database, kept in a named volume", () => {
    const url = new URL(containerEnv(appNames[0]).DATABASE_URL);
    const postgres = services[url.hostname];
    expect(postgres?.image).toMatch(/^postgres:/);
    const env = stringsOf(environmentOf(postgres));
    expect({
      user: url.username,
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1),
      port: url.port || '5432',
    }).toEqual({
      user: env.POSTGRES_USER,
      password: SECRETS.POSTGRES_PASSWORD,
      database: env.POSTGRES_DB,
      port: '5432',
    });
    const data = mountsOf(postgres).find((m) => m.target === '/var/lib/postgresql/data');
    expect(Object.keys(compose.volumes ?? {})).toContain(data?.source);
  });

  it('keeps Ollama in the ollama profile, which nothing else depends on; readiness does not require it', () => {
    const ollamaServices = Object.keys(services).filter((name) =>
      services[name].image?.startsWith('ollama/'),
    );
    expect(ollamaServices.length).toBeGreaterThan(0);
    for (const name of ollamaServices)
      expect({ name, profiles: services[name].profiles }).toEqual({ name, profiles: ['ollama'] });
    for (const name of Object.keys(services).filter((n) => !profiled(n))) {
      const onProfiled = Object.entries(dependsOn(services[name])).filter(
        ([dep, { required }]) => profiled(dep) && required !== false,
      );
      expect({ name, onProfiled }).toEqual({ name, onProfiled: [] });
    }
    const config = load(appNames[0]);
    const url = new URL(config.ollama.url);
    expect(ollamaServices).toContain(url.hostname);
    expect(url.port).toBe('11434'); // Ollama's own port
    expect(config.ollama.required).toBe(false);
    // The model the profile pulls is the one the service asks for.
    const pulls = ollamaServices.map((name) => [services[name].command ?? []].flat().join(' '));
    expect(pulls).toContain(`pull ${config.ollama.model}`);
  });

  it('starts in order: the instances wait for a healthy Redis and PostgreSQL, HAProxy for healthy instances', () => {
    for (const name of ['redis', 'postgres']) expect(services[name].healthcheck?.test).toBeDefined();
    // The instances' health is the image's own HEALTHCHECK, which compose must not switch off.
    expect(read('Dockerfile')).toMatch(/^HEALTHCHECK /m);
    for (const name of appNames) {
      expect(services[name].healthcheck?.disable).not.toBe(true);
      expect(dependsOn(services[name])).toEqual({
        redis: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
      });
    }
    const waits = Object.fromEntries(appNames.map((name) => [name, { condition: 'service_healthy' }]));
    expect(dependsOn(services.haproxy)).toEqual(waits);
  });

  it('gives each instance longer to stop than its drain and grace (+ the primary’s margin)', () => {
    for (const name of appNames) {
      const config = load(name);
      const needed = config.server.shutdownDrainDelayMs + config.server.shutdownGraceMs + SHUTDOWN_MARGIN_MS;
      expect(durationMs(services[name].stop_grace_period)).toBeGreaterThan(needed);
    }
  });

  describe('HAProxy', () => {
    it('mounts config/haproxy/haproxy.cfg where the image reads it, and publishes its frontend port', () => {
      const mount = mountsOf(services.haproxy).find((m) => normalizedPath(m.source) === HAPROXY_CFG);
      expect(mount).toEqual({
        source: `./${HAPROXY_CFG}`,
        target: '/usr/local/etc/haproxy/haproxy.cfg',
        readOnly: true,
      });
      expect(directive('bind')).toEqual([['bind', '"${FRONTEND_ADDR}"']]);
      const frontendPort = haproxyDefaults.FRONTEND_ADDR?.split(':').pop();
      expect(frontendPort).toBe('8080');
      expect((services.haproxy.ports ?? []).map(String)).toContain(`${frontendPort}:${frontendPort}`);
    });

    it('sends to every app instance by default, on its PORT, each address overridable', () => {
      const addresses = haproxyServers.map(({ variable }) =>
        variable ? haproxyDefaults[variable] : undefined,
      );
      const expected = appNames.map((name) => `${name}:${load(name).server.port}`);
      expect(addresses.sort()).toEqual(expected.sort());
    });

    it('keeps each Engine.IO session on one instance with an inserted cookie, one value per server', () => {
      const [cookie] = directive('cookie');
      expect(cookie?.slice(2)).toEqual(expect.arrayContaining(['insert', 'indirect', 'nocache']));
      const values = haproxyServers.map(({ options }) => optionAfter(options, 'cookie'));
      expect(values.every(Boolean)).toBe(true);
      expect(new Set(values).size).toBe(haproxyServers.length);
    });

    it("checks the service's readiness route, often enough to take a draining instance out within its drain delay", () => {
      const ready = routeOf(HealthController.prototype.ready);
      expect(directive('option', 'httpchk')).toEqual([['option', 'httpchk', 'GET', ready]]);
      const [defaults] = directive('default-server');
      expect(defaults).toContain('check');
      const outMs = haproxyMs(optionAfter(defaults, 'inter')) * Number(optionAfter(defaults, 'fall'));
      for (const name of appNames) expect(load(name).server.shutdownDrainDelayMs).toBeGreaterThan(outMs);
      // Readiness answers within 2 s (its own bound): a check must wait longer than that.
      expect(haproxyMs(directive('timeout', 'check')[0]?.[2])).toBeGreaterThan(2000);
    });

    it('holds polling requests and websockets longer than the Socket.IO heartbeat, and forwards the client address', () => {
      const { pingInterval, pingTimeout } = heartbeat();
      for (const name of ['client', 'server', 'tunnel']) {
        const value = directive('timeout', name)[0]?.[2];
        expect({ name, ms: haproxyMs(value) > pingInterval + pingTimeout }).toEqual({ name, ms: true });
      }
      expect(directive('option', 'forwardfor')).toHaveLength(1);
    });

    it('stops (hard-stop-after) before compose would kill it', () => {
      const hardStop = haproxyMs(directive('hard-stop-after')[0]?.[1]);
      expect(durationMs(services.haproxy.stop_grace_period)).toBeGreaterThan(hardStop);
    });

    describe('haproxy -c', () => {
      function haproxy(): string {
        for (const candidate of ['haproxy', '/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) {
          if (!spawnSync(candidate, ['-v']).error) return candidate;
        }
        throw new Error(
          'haproxy was not found on PATH, so config/haproxy/haproxy.cfg cannot be checked. CI installs it ' +
            '(.ci/run: apt-get install haproxy); install it (Debian/Ubuntu: apt-get install haproxy, ' +
            'macOS: brew install haproxy) and run this test again.',
        );
      }

      function check(env: Record<string, string>) {
        const run = spawnSync(haproxy(), ['-c', '-f', join(ROOT, HAPROXY_CFG)], {
          env: { PATH: process.env.PATH ?? '', ...env },
          encoding: 'utf8',
          timeout: 30_000,
        });
        const output = `${run.stdout}${run.stderr}`;
        const warnings = output.split('\n').filter((line) => /\[(WARNING|ALERT)\]/.test(line));
        return { status: run.status, output, warnings };
      }

      it('accepts the file pointed at local processes, without a warning', () => {
        const run = check({
          FRONTEND_ADDR: '127.0.0.1:18080',
          APP1_ADDR: '127.0.0.1:13001',
          APP2_ADDR: '127.0.0.1:13002',
        });
        expect({ status: run.status, warnings: run.warnings }).toEqual({ status: 0, warnings: [] });
        expect(run.output).toContain('Configuration file is valid');
      });

      it("accepts it with compose's defaults, starting even where the app names do not resolve yet", () => {
        const run = check({});
        const unexpected = run.warnings.filter((line) => !/could not resolve address 'app\d'/.test(line));
        expect({ status: run.status, unexpected }).toEqual({ status: 0, unexpected: [] });
      });
    });
  });
});
