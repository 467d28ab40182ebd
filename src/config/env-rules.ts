import { registerDecorator } from 'class-validator';

// Conversions and rules the environment schema (env.schema.ts) is written with.

/** The environment after conversion, as a cross-field rule sees it. */
type ConvertedEnv = Readonly<Record<string, unknown>>;

/** `true/false/1/0` (any case); anything else stays as given so @IsBoolean rejects it. */
export function toBoolean({ value }: { value: unknown }): unknown {
  if (typeof value !== 'string') return value;
  const normalized = value.trim().toLowerCase();
  if (normalized === 'true' || normalized === '1') return true;
  if (normalized === 'false' || normalized === '0') return false;
  return value;
}

/** Whole numbers only: "3.5", "12abc" and "" become NaN so @IsInt rejects them. */
export function toInteger({ value }: { value: unknown }): unknown {
  if (typeof value !== 'string') return value;
  return /^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
}

export function toTrimmed({ value }: { value: unknown }): unknown {
  return typeof value === 'string' ? value.trim() : value;
}

let ruleCount = 0;

/** A rule that may look across fields: `check` sees the whole (already converted) environment. */
export function Rule(
  check: (value: unknown, env: ConvertedEnv) => boolean,
  message: string,
): PropertyDecorator {
  // Each rule needs its own name: class-validator keys a property's failures by it.
  const name = `rule${++ruleCount}`;
  return (target, propertyName) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message },
      validator: { validate: (value, args) => check(value, args?.object as ConvertedEnv) },
    });
}

const HOST_PORT_LIST = /^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/;
const REDIS_URL = /^rediss?:\/\/[^\s]+$/;
const HTTP_URL = /^https?:\/\/[^\s/]+(\/[^\s]*)?$/;
export const ORIGIN_LIST = /^(\*|https?:\/\/[^\s,/]+(,\s*https?:\/\/[^\s,/]+)*)$/;

/** The `.env.example` value, and the words people leave in a secret they meant to replace. */
const PLACEHOLDER_SECRETS = ['change-me-to-at-least-32-random-characters'];
const PLACEHOLDER_WORDS = /change-?me|example/i;

/** A JWT secret copied from an example instead of generated: anyone who read the example can forge tokens. */
export function isPlaceholderSecret(secret: string): boolean {
  return PLACEHOLDER_SECRETS.includes(secret) || PLACEHOLDER_WORDS.test(secret);
}

export const isPort = (port: string) => /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;

/** Parsed as the clients will, so a bad URL is refused naming the variable instead of crashing the start. */
function parsedUrl(value: unknown, pattern: RegExp): URL | undefined {
  if (typeof value !== 'string' || !pattern.test(value)) return undefined;
  try {
    const url = new URL(value);
    return url.hostname !== '' && (url.port === '' || isPort(url.port)) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** No path, query or fragment: ioredis would read a database and options from them, past redaction. */
export function isRedisUrl(value: unknown): boolean {
  const url = parsedUrl(value, REDIS_URL);
  return (
    url !== undefined && (url.pathname === '' || url.pathname === '/') && url.search === '' && url.hash === ''
  );
}

/** No credentials (fetch refuses them, quoting the whole URL in its error), query or fragment. */
export function isOllamaUrl(value: unknown): boolean {
  const url = parsedUrl(value, HTTP_URL);
  return (
    url !== undefined && url.username === '' && url.password === '' && url.search === '' && url.hash === ''
  );
}

/** `host:port,…` with every port from 1 to 65535. */
export const isHostPortList = (value: unknown) =>
  typeof value === 'string' &&
  HOST_PORT_LIST.test(value) &&
  value.split(',').every((item) => isPort(item.slice(item.lastIndexOf(':') + 1)));

/** A format rule for an optional variable (unlike @IsOptional, it leaves the property's other rules running). */
export const IfSet = (check: (value: string) => boolean, message: string) =>
  Rule((v) => v === undefined || (typeof v === 'string' && check(v)), message);

export const redisOn = (env: ConvertedEnv) => env.REDIS_ENABLED === true;
export const isProduction = (env: ConvertedEnv) => env.NODE_ENV === 'production';

/** `$2a$`, `$2b$` or `$2y$`, a two-digit cost, then 22 characters of salt and 31 of hash (bcrypt's base64). */
const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
/** Below 10 a stolen hash is cheap to crack; above 14 every login attempt costs a worker seconds of CPU. */
export const BCRYPT_COST = { min: 10, max: 14 } as const;

export const isBcryptHash = (value: string) => BCRYPT_HASH.test(value);

/** The cost of a well-formed bcrypt hash, else undefined. */
export const bcryptCost = (value: string) => {
  const cost = BCRYPT_HASH.exec(value)?.[1];
  return cost === undefined ? undefined : Number(cost);
};
