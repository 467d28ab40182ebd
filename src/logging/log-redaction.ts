import { redactRedisUrl } from '../redis/redis-url.js';

/** What replaces a redacted value, as in every Redis URL the service prints. */
export const CENSOR = '***';

const SECRET_KEYS = ['token', 'auth', 'authorization', 'cookie', 'password', 'secret', 'jwtSecret'];
/** A message's text, in full (`content`) or streamed (`delta`): the users' data, never an operator's. */
const CONTENT_KEYS = ['content', 'delta'];

/**
 * pino `redact` paths: these keys are censored at the top of a log record and one level down
 * (`{ payload: { content } }`), plus the places a Socket.IO handshake or an HTTP request keeps credentials.
 */
export const REDACTED_PATHS: readonly string[] = [
  ...[...SECRET_KEYS, ...CONTENT_KEYS].flatMap((key) => [key, `*.${key}`]),
  'handshake.auth',
  'handshake.headers.authorization',
  'handshake.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * In free text: a JWT (base64url segments, the first a JSON header, so `eyJ`; from two segments on, as
 * a text cut to a length limit may keep only the header and part of the payload), or a URL whose
 * user-info carries a password (`redis://user:pw@`, `postgres://user:pw@`). The user-info runs to the
 * last `@` before the host, so a password holding an unencoded `@` is covered whole; the host and port
 * are matched narrowly so that `redactRedisUrl` can parse what was found and keep them.
 */
const SECRET_IN_TEXT =
  /\beyJ[\w-]*\.[\w-]+(?:\.[\w-]*)?|\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#"'<>]*@(?:\[[\dA-Fa-f:.]*\]|[\w.%-]*)(?::\d+)?/g;

/**
 * The last line of defence for text that reaches a log line: JWTs become `***`, URL passwords `***`
 * (through `redactRedisUrl`, which keeps the scheme, user and host). Costs one `includes` pair for text
 * that cannot hold either, which is nearly every line.
 */
export function scrubSecrets(text: string): string {
  if (!text.includes('://') && !text.includes('eyJ')) return text;
  return text.replace(SECRET_IN_TEXT, (found) => (found.startsWith('eyJ') ? CENSOR : redactRedisUrl(found)));
}
