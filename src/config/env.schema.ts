import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, Matches, Max, Min, MinLength } from 'class-validator';
import {
  BCRYPT_COST,
  IfSet,
  ORIGIN_LIST,
  Rule,
  bcryptCost,
  isBcryptHash,
  isHostPortList,
  isOllamaUrl,
  isPlaceholderSecret,
  isPort,
  isProduction,
  isRedisUrl,
  redisOn,
  toBoolean,
  toInteger,
  toTrimmed,
} from './env-rules.js';

/** Every variable the service reads (CONTRACT section 1). Messages never quote a value: some are secrets. */
export class EnvironmentVariables {
  @IsIn(['development', 'production', 'test'], {
    message: '$property must be development, production or test',
  })
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer from 1 to 65535' })
  @Min(1, { message: '$property must be an integer from 1 to 65535' })
  @Max(65535, { message: '$property must be an integer from 1 to 65535' })
  PORT = 3000;

  @Transform(toTrimmed)
  @MinLength(1, { message: '$property must not be empty' })
  HOST = '0.0.0.0';

  @Transform(({ value }) =>
    typeof value === 'string' && value.trim() === 'auto' ? 'auto' : toInteger({ value }),
  )
  @Rule(
    (v) => v === 'auto' || (Number.isInteger(v) && (v as number) >= 1),
    '$property must be an integer >= 1 or "auto"',
  )
  @Rule(
    (v, env) => redisOn(env) || v === 1,
    '$property greater than 1 (or "auto") requires REDIS_ENABLED=true: workers share rooms and sessions through Redis',
  )
  WORKERS: number | 'auto' = 1;

  @Transform(toBoolean)
  @IsBoolean({ message: '$property must be a boolean (true/false/1/0)' })
  REDIS_ENABLED = false;

  @Transform(toTrimmed)
  @IfSet(
    isRedisUrl,
    '$property must be a redis:// or rediss:// URL with a host, a port from 1 to 65535 and no path, query ' +
      'or fragment (the database goes in REDIS_DB; percent-encode @ : / # ? in a password)',
  )
  @Rule(
    (v, env) => !redisOn(env) || env.REDIS_MODE !== 'standalone' || typeof v === 'string',
    '$property is required when REDIS_ENABLED=true',
  )
  REDIS_URL?: string;

  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer from 0 to 15' })
  @Min(0, { message: '$property must be an integer from 0 to 15' })
  @Max(15, { message: '$property must be an integer from 0 to 15' })
  @Rule((v, env) => env.REDIS_MODE !== 'cluster' || v === 0, '$property must be 0 when REDIS_MODE=cluster')
  REDIS_DB = 0;

  @Transform(toTrimmed)
  @IsIn(['standalone', 'sentinel', 'cluster'], {
    message: '$property must be standalone, sentinel or cluster',
  })
  REDIS_MODE: 'standalone' | 'sentinel' | 'cluster' = 'standalone';

  @Transform(toTrimmed)
  @IfSet(isHostPortList, '$property must be a comma list of host:port (port 1-65535)')
  @Rule(
    (v, env) => !redisOn(env) || env.REDIS_MODE !== 'sentinel' || typeof v === 'string',
    '$property is required when REDIS_MODE=sentinel',
  )
  REDIS_SENTINELS?: string;

  @Transform(toTrimmed)
  @Rule(
    (v, env) => !redisOn(env) || env.REDIS_MODE !== 'sentinel' || typeof v === 'string',
    '$property is required when REDIS_MODE=sentinel',
  )
  REDIS_SENTINEL_NAME?: string;

  @Transform(toTrimmed)
  @IfSet(isHostPortList, '$property must be a comma list of host:port (port 1-65535)')
  @Rule(
    (v, env) => !redisOn(env) || env.REDIS_MODE !== 'cluster' || typeof v === 'string',
    '$property is required when REDIS_MODE=cluster',
  )
  REDIS_CLUSTER_NODES?: string;

  @Transform(toTrimmed)
  @Matches(/^[A-Za-z0-9:_.-]{1,64}$/, { message: '$property must be 1-64 characters of A-Z a-z 0-9 : _ . -' })
  REDIS_KEY_PREFIX = 'socketio';

  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer number of seconds from 10 to 604800' })
  @Min(10, { message: '$property must be an integer number of seconds from 10 to 604800' })
  @Max(604800, { message: '$property must be an integer number of seconds from 10 to 604800' })
  REDIS_SESSION_TTL = 3600;

  @Transform(toTrimmed)
  @Matches(/^(sqlite:.+|postgres(ql)?:\/\/\S+)$/, {
    message: '$property must be sqlite:<path> or a postgres:// URL',
  })
  DATABASE_URL = 'sqlite:data/chat.db';

  @Transform(toTrimmed)
  @Rule(
    isOllamaUrl,
    '$property must be an http:// or https:// URL with a host, a port from 1 to 65535 and no credentials, ' +
      'query or fragment',
  )
  OLLAMA_URL = 'http://localhost:11434';

  @Transform(toTrimmed)
  @MinLength(1, { message: '$property must not be empty' })
  OLLAMA_MODEL = 'llama3.2';

  @Transform(toBoolean)
  @IsBoolean({ message: '$property must be a boolean (true/false/1/0)' })
  OLLAMA_REQUIRED = false;

  /** false: a plain chat; user messages are stored and delivered, nobody answers them. */
  @Transform(toBoolean)
  @IsBoolean({ message: '$property must be a boolean (true/false/1/0)' })
  ASSISTANT_ENABLED = true;

  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer number of milliseconds from 100 to 600000' })
  @Min(100, { message: '$property must be an integer number of milliseconds from 100 to 600000' })
  @Max(600000, { message: '$property must be an integer number of milliseconds from 100 to 600000' })
  OLLAMA_CONNECT_TIMEOUT_MS = 30000;

  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer number of milliseconds from 100 to 600000' })
  @Min(100, { message: '$property must be an integer number of milliseconds from 100 to 600000' })
  @Max(600000, { message: '$property must be an integer number of milliseconds from 100 to 600000' })
  OLLAMA_IDLE_TIMEOUT_MS = 30000;

  @Transform(toTrimmed)
  @MinLength(1, { message: '$property must not be empty' })
  STORAGE_DIR = './data';

  @Rule(
    (v, env) => !isProduction(env) || typeof v === 'string',
    '$property is required when NODE_ENV=production',
  )
  @Rule(
    (v, env) => !isProduction(env) || typeof v !== 'string' || v.length >= 32,
    '$property must be at least 32 characters when NODE_ENV=production',
  )
  @Rule(
    (v, env) => !isProduction(env) || typeof v !== 'string' || !isPlaceholderSecret(v),
    '$property is a placeholder (the example value, or it contains change-me or example): generate one, ' +
      'e.g. `openssl rand -base64 48`',
  )
  JWT_SECRET?: string;

  @Transform(toTrimmed)
  @IfSet((v) => ORIGIN_LIST.test(v), '$property must be * or a comma list of http(s)://host[:port] origins')
  @Rule(
    (v, env) => !isProduction(env) || typeof v === 'string',
    '$property is required when NODE_ENV=production',
  )
  @Rule((v, env) => !isProduction(env) || v !== '*', '$property must not be * when NODE_ENV=production')
  CORS_ORIGINS?: string;

  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer number of milliseconds from 1000 to 600000' })
  @Min(1000, { message: '$property must be an integer number of milliseconds from 1000 to 600000' })
  @Max(600000, { message: '$property must be an integer number of milliseconds from 1000 to 600000' })
  SHUTDOWN_GRACE_MS = 10000;

  /** SIGTERM: readiness 503 this long before the sockets close; must fit inside SHUTDOWN_GRACE_MS. */
  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer number of milliseconds from 0 to 600000' })
  @Min(0, { message: '$property must be an integer number of milliseconds from 0 to 600000' })
  @Max(600000, { message: '$property must be an integer number of milliseconds from 0 to 600000' })
  @Rule(
    (v, env) => typeof v !== 'number' || v < Number(env.SHUTDOWN_GRACE_MS),
    '$property must be less than SHUTDOWN_GRACE_MS',
  )
  SHUTDOWN_DRAIN_DELAY_MS = 1000;

  /** Live sockets one user may hold across all workers and instances; one more is refused. */
  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer from 1 to 10000' })
  @Min(1, { message: '$property must be an integer from 1 to 10000' })
  @Max(10000, { message: '$property must be an integer from 1 to 10000' })
  MAX_CONNECTIONS_PER_USER = 20;

  /** Client connections one process keeps open; lowered at start to fit the descriptor limit. */
  @Transform(toInteger)
  @IsInt({ message: '$property must be an integer from 100 to 1000000' })
  @Min(100, { message: '$property must be an integer from 100 to 1000000' })
  @Max(1000000, { message: '$property must be an integer from 100 to 1000000' })
  MAX_HTTP_CONNECTIONS = 10000;

  /** The chat page at `/` and its development sign-in; unset: on unless NODE_ENV=production. */
  @Transform(toBoolean)
  @Rule((v) => v === undefined || typeof v === 'boolean', '$property must be a boolean (true/false/1/0)')
  DEMO_UI?: boolean;

  /** A second port answering only liveness, so a probe is served while client connections are exhausted. */
  @Transform(toInteger)
  @Rule(
    (v) => v === undefined || (Number.isInteger(v) && isPort(String(v))),
    '$property must be an integer from 1 to 65535',
  )
  @Rule((v, env) => v === undefined || v !== env.PORT, '$property must differ from PORT')
  PROBE_PORT?: number;

  // The Socket.IO admin UI on /admin: on only with both the login and the bcrypt hash, so it never
  // runs without authentication, in production or anywhere else.
  @Transform(toTrimmed)
  @IfSet((v) => v.length >= 1 && v.length <= 128, '$property must be 1-128 characters')
  @Rule(
    (v, env) => v !== undefined || env.ADMIN_UI_PASSWORD_HASH === undefined,
    '$property is required when ADMIN_UI_PASSWORD_HASH is set: the admin UI needs both',
  )
  ADMIN_UI_USERNAME?: string;

  /** A bcrypt hash, never the password: the value is a secret all the same, so no message quotes it. */
  @Transform(toTrimmed)
  @IfSet(
    isBcryptHash,
    '$property must be a bcrypt hash: $2a$, $2b$ or $2y$, a two-digit cost, $, then 53 characters of ./A-Za-z0-9',
  )
  @IfSet((v) => {
    const cost = bcryptCost(v);
    return cost === undefined || (cost >= BCRYPT_COST.min && cost <= BCRYPT_COST.max);
  }, `$property must have a bcrypt cost from ${BCRYPT_COST.min} to ${BCRYPT_COST.max}`)
  @Rule(
    (v, env) => v !== undefined || env.ADMIN_UI_USERNAME === undefined,
    '$property is required when ADMIN_UI_USERNAME is set: the admin UI needs both',
  )
  ADMIN_UI_PASSWORD_HASH?: string;

  /** false lets the admin UI make sockets join, leave and disconnect; the default only watches. */
  @Transform(toBoolean)
  @IsBoolean({ message: '$property must be a boolean (true/false/1/0)' })
  ADMIN_UI_READONLY = true;
}
