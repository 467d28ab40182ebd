import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import type { AppConfig, HostPort } from './app-config.js';
import { EnvironmentVariables } from './env.schema.js';

/** Raised with one line per problem; each line names the variable and the rule, never the value. */
export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/** One line per distinct problem: a non-number PORT fails @IsInt, @Min and @Max with the same message. */
function messagesOf(errors: ValidationError[]): string[] {
  return [...new Set(errors.flatMap((error) => Object.values(error.constraints ?? {})))];
}

function parseHostPorts(list: string | undefined): HostPort[] {
  if (!list) return [];
  return list.split(',').map((item) => {
    const separator = item.lastIndexOf(':');
    return { host: item.slice(0, separator), port: Number(item.slice(separator + 1)) };
  });
}

function storageProblem(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch {
    return 'STORAGE_DIR must be a writable directory (it could not be created or written)';
  }
}

/**
 * Validates the environment once; unset and empty mean the default.
 * @throws ConfigValidationError listing every problem.
 */
export function loadConfig(environment: NodeJS.ProcessEnv): AppConfig {
  // Every declared field, optional ones included, is an own key (class fields use define semantics).
  const raw = Object.fromEntries(
    Object.keys(new EnvironmentVariables())
      .filter((key) => environment[key] !== undefined && environment[key] !== '')
      .map((key) => [key, environment[key]]),
  );
  const env = plainToInstance(EnvironmentVariables, raw, { exposeDefaultValues: true });
  const problems = messagesOf(validateSync(env, { forbidUnknownValues: false }));
  const storage = problems.some((p) => p.startsWith('STORAGE_DIR'))
    ? undefined
    : storageProblem(env.STORAGE_DIR);
  if (storage) problems.push(storage);
  if (problems.length > 0) throw new ConfigValidationError(problems);

  const databaseIsSqlite = env.DATABASE_URL.startsWith('sqlite:');
  return {
    server: {
      nodeEnv: env.NODE_ENV,
      host: env.HOST,
      port: env.PORT,
      workers: env.WORKERS === 'auto' ? availableParallelism() : env.WORKERS,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
      shutdownDrainDelayMs: env.SHUTDOWN_DRAIN_DELAY_MS,
      maxHttpConnections: env.MAX_HTTP_CONNECTIONS,
      probePort: env.PROBE_PORT,
      demoUi: env.DEMO_UI ?? env.NODE_ENV !== 'production',
    },
    redis: {
      enabled: env.REDIS_ENABLED,
      mode: env.REDIS_MODE,
      url: env.REDIS_URL,
      db: env.REDIS_DB,
      sentinels: parseHostPorts(env.REDIS_SENTINELS),
      sentinelName: env.REDIS_SENTINEL_NAME,
      clusterNodes: parseHostPorts(env.REDIS_CLUSTER_NODES),
      keyPrefix: env.REDIS_KEY_PREFIX,
      sessionTtlSeconds: env.REDIS_SESSION_TTL,
    },
    database: databaseIsSqlite
      ? { type: 'sqlite', location: env.DATABASE_URL.slice('sqlite:'.length) }
      : { type: 'postgres', location: env.DATABASE_URL },
    ollama: {
      url: env.OLLAMA_URL.replace(/\/+$/, ''),
      model: env.OLLAMA_MODEL,
      required: env.OLLAMA_REQUIRED,
      connectTimeoutMs: env.OLLAMA_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: env.OLLAMA_IDLE_TIMEOUT_MS,
      assistantEnabled: env.ASSISTANT_ENABLED,
    },
    storage: { dir: env.STORAGE_DIR },
    security: {
      jwtSecret: env.JWT_SECRET,
      corsOrigins: env.CORS_ORIGINS ? env.CORS_ORIGINS.split(',').map((origin) => origin.trim()) : [],
      maxConnectionsPerUser: env.MAX_CONNECTIONS_PER_USER,
    },
    // Validation guarantees both or neither.
    ...(env.ADMIN_UI_USERNAME !== undefined &&
      env.ADMIN_UI_PASSWORD_HASH !== undefined && {
        adminUi: {
          username: env.ADMIN_UI_USERNAME,
          passwordHash: env.ADMIN_UI_PASSWORD_HASH,
          readonly: env.ADMIN_UI_READONLY,
          mode: env.NODE_ENV === 'production' ? 'production' : 'development',
        },
      }),
  };
}

/** Reads `.env` (real variables win) and validates, or exits 1. The one reader of `process.env`. */
export function loadConfigOrExit(): AppConfig {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    for (const problem of error.problems) console.error(`Invalid configuration: ${problem}`);
    process.exit(1);
  }
}
