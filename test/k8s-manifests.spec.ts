import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';
// Socket.IO's transport layer, where the heartbeat defaults live (socket.io passes its options through).
import { Server as EngineServer } from 'engine.io';
import { parseAllDocuments } from 'yaml';
import { MAX_FRAME_BYTES } from '../src/common/frame-limit.js';
import { EnvironmentVariables } from '../src/config/env.schema.js';
import { ConfigValidationError, loadConfig } from '../src/config/load-config.js';
import { HealthController } from '../src/health/health.controller.js';
import { securityProblems } from '../src/health/security-posture.js';

/**
 * Static checks of config/k8s/*.yaml against the service itself: variable names and values go through
 * the service's own schema and loadConfig, probe paths come from the controller's route metadata, the
 * heartbeat from Socket.IO's defaults, the frame limit from the adapter. No cluster, no process.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const K8S_DIR = join(ROOT, 'config/k8s');
const SRC_DIR = join(ROOT, 'src');
/** Socket.IO's HTTP path (CONTRACT section 4), which the Ingress must publish. */
const SOCKET_IO_PATH = '/socket.io';

// ---- the manifests ---------------------------------------------------------------------------------

interface Metadata {
  name?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: Metadata;
}
type Port = string | number;
interface Probe {
  httpGet?: { path?: string; port?: Port };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds?: number }; exec?: { command?: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Deployment extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: Metadata;
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean };
        containers: Container[];
        volumes?: { name: string; emptyDir?: object; persistentVolumeClaim?: object }[];
      };
    };
  };
}
interface Service extends Manifest {
  spec: {
    selector: Record<string, string>;
    ports: { name?: string; port: number; targetPort?: Port }[];
  };
}
interface Ingress extends Manifest {
  spec: {
    tls?: { hosts?: string[] }[];
    rules: {
      host?: string;
      http: {
        paths: {
          path: string;
          backend: { service: { name: string; port: { name?: string; number?: number } } };
        }[];
      };
    }[];
  };
}
interface ConfigMap extends Manifest {
  data?: Record<string, unknown>;
}
interface Secret extends Manifest {
  data?: Record<string, unknown>;
  stringData?: Record<string, unknown>;
}
interface PodDisruptionBudget extends Manifest {
  spec: { selector: { matchLabels: Record<string, string> } };
}
interface Kustomization extends Manifest {
  resources?: string[];
}

const files = readdirSync(K8S_DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort();

/**
 * Parsed as YAML 1.1, as kubectl reads them: there `yes`, `on` and `0x1F` are not strings, so a
 * ConfigMap value written that way would be caught by the string checks below.
 */
const documents = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'), { version: '1.1' }).map((doc, index) => ({
    file,
    index,
    errors: [...doc.errors, ...doc.warnings].map((e) => e.message),
    manifest: doc.toJS() as Manifest | null,
  })),
);
const manifests = documents.flatMap(({ file, manifest }) => (manifest ? [{ file, manifest }] : []));

function only<T extends Manifest>(kind: string): T {
  const found = manifests.filter(({ manifest }) => manifest.kind === kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}, found ${found.length}`);
  return found[0].manifest as T;
}

const deployment = only<Deployment>('Deployment');
const service = only<Service>('Service');
const ingress = only<Ingress>('Ingress');
const configMap = only<ConfigMap>('ConfigMap');
const secret = only<Secret>('Secret');
const pdb = only<PodDisruptionBudget>('PodDisruptionBudget');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0];
const configData = (configMap.data ?? {}) as Record<string, string>;
const secretData = (secret.stringData ?? {}) as Record<string, string>;
const annotations = ingress.metadata?.annotations ?? {};

// ---- the service's own facts -------------------------------------------------------------------------

/**
 * The variables of the service. loadConfig reads exactly the own keys of `new EnvironmentVariables()`
 * (class fields have define semantics, so optional fields without a default are own keys too), and
 * class-validator's metadata lists every property that carries a rule, whatever the field semantics.
 * A manifest key must be in both: read, and validated. A test below also requires every validated
 * property to be read, so a compiler change that dropped optional fields from the keys (and made
 * loadConfig silently ignore REDIS_URL, JWT_SECRET, ...) turns this suite red.
 */
const readByLoadConfig = new Set(Object.keys(new EnvironmentVariables()));
const validatedProperties = new Set(
  getMetadataStorage()
    .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
    .map((metadata) => metadata.propertyName),
);
const variables = new Set([...readByLoadConfig].filter((name) => validatedProperties.has(name)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !/\.(e2e-)?spec\.ts$/.test(entry.name) ? [path] : [];
  });
}
const serviceSources = sourceFiles(SRC_DIR).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
const sourcesMatching = (pattern: RegExp) =>
  serviceSources.filter(({ text }) => pattern.test(text)).map(({ path }) => path);

/** The full path Nest serves a HealthController method on, from the same metadata Nest routes by. */
function routeOf(handler: (...args: never[]) => unknown): string {
  expect(Reflect.getMetadata(METHOD_METADATA, handler)).toBe(RequestMethod.GET);
  const segments = [
    Reflect.getMetadata(PATH_METADATA, HealthController),
    Reflect.getMetadata(PATH_METADATA, handler),
  ];
  return (
    '/' +
    segments
      .map((s: string) => s.replace(/^\/+|\/+$/g, ''))
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

/** The multi-worker primary waits SHUTDOWN_GRACE_MS plus this margin for its workers (not exported). */
function primaryShutdownMarginMs(): number {
  const text = readFileSync(join(SRC_DIR, 'cluster/worker-supervisor.ts'), 'utf8');
  const match = /const SHUTDOWN_MARGIN_MS = ([\d_]+)/.exec(text);
  if (!match) throw new Error('SHUTDOWN_MARGIN_MS not found in src/cluster/worker-supervisor.ts');
  return Number(match[1].replaceAll('_', ''));
}

function preStopSeconds(): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep?.seconds !== undefined) return preStop.sleep.seconds;
  const command = (preStop?.exec?.command ?? []).join(' ');
  const match = /(?:^|\s)sleep (\d+)\b/.exec(command);
  if (!match) throw new Error('no preStop sleep (native sleep action or exec sleep N)');
  return Number(match[1]);
}

/** A probe's port, resolved to the container port number it names. */
function containerPortOf(port: Port | undefined): number | undefined {
  if (typeof port === 'number')
    return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** nginx sizes: bytes, or k/m/g (KiB, MiB, GiB). "0" means unlimited and is refused here. */
function nginxBytes(size: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(size.trim());
  if (!match) throw new Error(`not an nginx size: ${size}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(match[1]) * unit;
}

/** Kubernetes CPU quantities: "2", "1.5", "500m". */
function cpuCores(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

// ---- the checks ------------------------------------------------------------------------------------

describe('config/k8s manifests', () => {
  it('parse cleanly, and every document has apiVersion, kind and metadata.name', () => {
    expect(files).toEqual(expect.arrayContaining(['configmap.yaml', 'deployment.yaml', 'ingress.yaml']));
    expect(files).toEqual(expect.arrayContaining(['secret.yaml', 'service.yaml']));
    for (const { file, index, errors, manifest } of documents) {
      const where = `${file} document ${index}`;
      expect({ where, errors }).toEqual({ where, errors: [] });
      expect({ where, empty: manifest === null }).toEqual({ where, empty: false });
      expect({ where, apiVersion: typeof manifest?.apiVersion }).toEqual({ where, apiVersion: 'string' });
      expect({ where, kind: typeof manifest?.kind }).toEqual({ where, kind: 'string' });
      expect({ where, name: typeof manifest?.metadata?.name }).toEqual({ where, name: 'string' });
    }
  });

  it('select the same pods everywhere: Deployment, Service, PodDisruptionBudget', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    expect(matches(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(matches(service.spec.selector, podLabels)).toBe(true);
    expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(podSpec.containers).toHaveLength(1);
    expect(container.command).toEqual(['node', 'dist/main.js']);
  });

  describe('probes and ports', () => {
    it("probe the service's own routes: /api/health for startup and liveness, /api/ready for readiness", () => {
      // A global prefix would move every route; the controller's metadata would not show it.
      expect(sourcesMatching(/setGlobalPrefix\s*\(/)).toEqual([]);
      const health = routeOf(HealthController.prototype.liveness);
      const ready = routeOf(HealthController.prototype.ready);
      expect([health, ready]).toEqual(['/api/health', '/api/ready']); // the contract's routes, as a sanity check
      expect(container.startupProbe?.httpGet?.path).toBe(health);
      expect(container.livenessProbe?.httpGet?.path).toBe(health);
      expect(container.readinessProbe?.httpGet?.path).toBe(ready);
    });

    it('probe startup and readiness on the container port that equals the ConfigMap PORT', () => {
      const port = Number(configData.PORT);
      expect(container.ports?.filter((p) => p.containerPort === port)).toHaveLength(1);
      for (const probe of [container.startupProbe, container.readinessProbe]) {
        expect(containerPortOf(probe?.httpGet?.port)).toBe(port);
      }
    });

    it('probe liveness on PROBE_PORT, which PORT’s connection cap cannot starve and the Service does not expose', () => {
      const probePort = Number(configData.PROBE_PORT);
      expect(Number.isInteger(probePort)).toBe(true);
      expect(probePort).not.toBe(Number(configData.PORT));
      expect(container.ports?.filter((p) => p.containerPort === probePort)).toHaveLength(1);
      expect(containerPortOf(container.livenessProbe?.httpGet?.port)).toBe(probePort);
      for (const servicePort of service.spec.ports) {
        expect(containerPortOf(servicePort.targetPort ?? servicePort.port)).not.toBe(probePort);
      }
    });

    it('time readiness out after the endpoint’s own 2 s bound, and keep liveness the more patient', () => {
      const readiness = container.readinessProbe!;
      const liveness = container.livenessProbe!;
      const startup = container.startupProbe!;
      expect(readiness.timeoutSeconds).toBeGreaterThanOrEqual(3);
      expect(readiness.periodSeconds).toBeLessThanOrEqual(10);
      expect(readiness.failureThreshold).toBeLessThanOrEqual(3);
      // Kubernetes defaults: timeout 1 s, failureThreshold 3.
      const patience = (p: Probe) => (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
      expect(liveness.timeoutSeconds).toBeGreaterThanOrEqual(readiness.timeoutSeconds!);
      expect(patience(liveness)).toBeGreaterThan(patience(readiness));
      expect(patience(liveness)).toBeGreaterThanOrEqual(30);
      // Migrations run at boot, under a lock shared with every pod booting at the same time.
      expect(patience(startup)).toBeGreaterThanOrEqual(120);
    });

    it('route the Service to that container port, and the Ingress to the Service', () => {
      const port = Number(configData.PORT);
      expect(service.spec.ports.length).toBeGreaterThan(0);
      for (const servicePort of service.spec.ports) {
        expect(containerPortOf(servicePort.targetPort ?? servicePort.port)).toBe(port);
      }
      const backends = ingress.spec.rules.flatMap((rule) =>
        rule.http.paths.map((path) => path.backend.service),
      );
      expect(backends.length).toBeGreaterThan(0);
      for (const backend of backends) {
        expect(backend.name).toBe(service.metadata?.name);
        const target = service.spec.ports.find((p) =>
          backend.port.name !== undefined ? p.name === backend.port.name : p.port === backend.port.number,
        );
        expect(target).toBeDefined();
      }
    });
  });

  describe('configuration', () => {
    it('the schema and loadConfig agree on the variables (else a manifest key could be silently ignored)', () => {
      expect([...validatedProperties].filter((name) => !readByLoadConfig.has(name))).toEqual([]);
      expect(variables.size).toBeGreaterThan(20);
    });

    it('ConfigMap and Secret use only variables of EnvironmentVariables, each once, and cover them all', () => {
      const configKeys = Object.keys(configData);
      const secretKeys = Object.keys(secretData);
      expect(configKeys.filter((key) => !variables.has(key))).toEqual([]);
      expect(secretKeys.filter((key) => !variables.has(key))).toEqual([]);
      expect(configKeys.filter((key) => secretKeys.includes(key))).toEqual([]);
      expect([...configKeys, ...secretKeys].sort()).toEqual([...variables].sort());
      expect(Object.keys(secret.data ?? {})).toEqual([]); // stringData only: a readable template
      expect(secretKeys.sort()).toEqual([
        'ADMIN_UI_PASSWORD_HASH',
        'ADMIN_UI_USERNAME',
        'DATABASE_URL',
        'JWT_SECRET',
        'REDIS_URL',
      ]);
    });

    it('every value is a string, as ConfigMap data and Secret stringData must be', () => {
      for (const [key, value] of Object.entries({ ...configMap.data, ...secret.stringData })) {
        expect({ key, type: typeof value }).toEqual({ key, type: 'string' });
      }
    });

    // loadConfig also creates STORAGE_DIR and checks it is writable: that part is about the pod's
    // filesystem (checked against the volume mounts below), so here it points at a scratch directory.
    let storage: string;
    beforeAll(() => {
      storage = mkdtempSync(join(tmpdir(), 'k8s-manifests-'));
    });
    afterAll(() => rmSync(storage, { recursive: true, force: true }));

    function problemsOf(env: Record<string, string>): string[] {
      try {
        loadConfig({ ...env, STORAGE_DIR: storage });
        return [];
      } catch (error) {
        if (error instanceof ConfigValidationError) return error.problems;
        throw error;
      }
    }

    it("pass the service's own validation (loadConfig) as a secure production setup", () => {
      // The Secret as an operator fills it in: only JWT_SECRET's placeholder is refused (next test).
      const filledIn = { ...secretData, JWT_SECRET: randomBytes(36).toString('base64') };
      const config = loadConfig({ ...configData, ...filledIn, STORAGE_DIR: storage });
      expect(config.server).toMatchObject({ nodeEnv: 'production', port: Number(configData.PORT) });
      expect(config.redis.enabled).toBe(true);
      expect(config.database.type).toBe('postgres');
      // What readiness reports as security_validated (no dev switch, strong secret, explicit CORS, ...).
      expect(securityProblems(config)).toEqual([]);
      // Each worker wants a CPU: more workers than the CPU limit only adds contention.
      const cpuLimit = container.resources?.limits?.cpu;
      expect(cpuLimit).toBeDefined();
      expect(config.server.workers).toBeLessThanOrEqual(cpuCores(cpuLimit!));
    });

    it('the Secret template cannot run as is: its JWT_SECRET placeholder is refused, nothing else', () => {
      const problems = problemsOf({ ...configData, ...secretData });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^JWT_SECRET /);
    });

    it('placeholder secrets have the production shape: PostgreSQL, Redis with a password', () => {
      expect(secretData.DATABASE_URL).toMatch(/^postgres(ql)?:\/\//);
      expect(new URL(secretData.REDIS_URL).password).not.toBe('');
    });

    it('are read by the container: envFrom the ConfigMap and the Secret', () => {
      const refs = container.envFrom ?? [];
      expect(refs.map((ref) => ref.configMapRef?.name).filter(Boolean)).toEqual([configMap.metadata?.name]);
      expect(refs.map((ref) => ref.secretRef?.name).filter(Boolean)).toEqual([secret.metadata?.name]);
    });

    it('give STORAGE_DIR a writable volume on a read-only root filesystem, as a non-root user', () => {
      expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(podSpec.securityContext?.runAsNonRoot ?? container.securityContext?.runAsNonRoot).toBe(true);
      const mount = container.volumeMounts?.find((m) => m.mountPath === configData.STORAGE_DIR);
      expect(mount).toBeDefined();
      expect(mount?.readOnly).not.toBe(true);
      const volume = podSpec.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.emptyDir ?? volume?.persistentVolumeClaim).toBeDefined();
    });
  });

  describe('shutdown', () => {
    it('grant the pod more time than preStop + drain delay + shutdown grace (+ the primary’s margin)', () => {
      const workers = Number(configData.WORKERS);
      const marginMs = workers > 1 ? primaryShutdownMarginMs() : 0;
      const needed =
        preStopSeconds() +
        (Number(configData.SHUTDOWN_DRAIN_DELAY_MS) + Number(configData.SHUTDOWN_GRACE_MS) + marginMs) / 1000;
      expect(preStopSeconds()).toBeGreaterThan(0);
      expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(needed);
    });
  });

  describe('ingress', () => {
    it('keep polling clients on their pod with a persistent affinity cookie covering Socket.IO', () => {
      expect(annotations['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
      expect(annotations['nginx.ingress.kubernetes.io/affinity-mode']).toBe('persistent');
      expect(annotations['nginx.ingress.kubernetes.io/session-cookie-name']).toMatch(/^[\w-]+$/);
      expect(Number(annotations['nginx.ingress.kubernetes.io/session-cookie-max-age'])).toBeGreaterThan(0);
      const cookiePath = annotations['nginx.ingress.kubernetes.io/session-cookie-path'];
      const paths = ingress.spec.rules.flatMap((rule) => rule.http.paths.map((p) => p.path));
      expect(paths.some((path) => `${SOCKET_IO_PATH}/`.startsWith(path))).toBe(true);
      for (const path of paths) expect(path.startsWith(cookiePath)).toBe(true);
    });

    it('hold proxied connections longer than the Socket.IO heartbeat (pingInterval + pingTimeout)', () => {
      // The service keeps Socket.IO's defaults; if src ever sets its own, read them here instead.
      expect(sourcesMatching(/\bping(Interval|Timeout)\b/)).toEqual([]);
      const { pingInterval, pingTimeout } = heartbeat();
      const heartbeatSeconds = (pingInterval + pingTimeout) / 1000;
      for (const name of ['proxy-read-timeout', 'proxy-send-timeout']) {
        const value = annotations[`nginx.ingress.kubernetes.io/${name}`];
        expect({ name, value }).toEqual({ name, value: expect.stringMatching(/^\d+$/) });
        expect(Number(value)).toBeGreaterThan(heartbeatSeconds);
      }
    });

    it('let frames up to the service’s own limit through', () => {
      const size = annotations['nginx.ingress.kubernetes.io/proxy-body-size'];
      expect(nginxBytes(size)).toBeGreaterThanOrEqual(MAX_FRAME_BYTES);
    });

    it('serve TLS for its host, the origin CORS_ORIGINS allows', () => {
      const hosts = ingress.spec.rules.map((rule) => rule.host);
      const tlsHosts = (ingress.spec.tls ?? []).flatMap((tls) => tls.hosts ?? []);
      expect(hosts.length).toBeGreaterThan(0);
      const origins = configData.CORS_ORIGINS.split(',').map((origin) => origin.trim());
      for (const host of hosts) {
        expect(tlsHosts).toContain(host);
        expect(origins).toContain(`https://${host}`);
      }
    });
  });

  it('kustomization lists every manifest but the Secret template', () => {
    const kustomization = manifests.find(({ manifest }) => manifest.kind === 'Kustomization');
    if (!kustomization) return;
    const listed = (kustomization.manifest as Kustomization).resources ?? [];
    const secretFile = manifests.find(({ manifest }) => manifest === secret)?.file;
    const expected = files.filter((file) => file !== kustomization.file && file !== secretFile);
    expect([...listed].sort()).toEqual(expected);
  });
});
