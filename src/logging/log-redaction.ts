import { redactRedisUrl } from '../redis/redis-url.js';

/** What replaces a redacted value, as in every Redis URL the service prints. */
export const CENSOR = '***';

const SECRET_KEYS = ['token', 'auth', 'authorization', 'cookie', 'password', 'secret', 'jwtSecret'];
/** A message's text, in full (`content`) or streamed (`delta`): the users' data, never an operator's. */
const CONTENT_KEYS = ['content', 'delta'];

/** pino `redact` paths: these keys at the top level and one down, plus handshake and request credentials. */
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
 * A JWT (from two segments on, as a cut text may keep only part of it) or a URL whose user-info holds a
 * password; the user-info runs to the last `@`, so a password with an unencoded `@` is covered whole.
 */
const SECRET_IN_TEXT =
  /\beyJ[\w-]*\.[\w-]+(?:\.[\w-]*)?|\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#"'<>]*@(?:\[[\dA-Fa-f:.]*\]|[\w.%-]*)(?::\d+)?/g;

/** The last line of defence for any logged text: JWTs and URL passwords become `***`. */
export function scrubSecrets(text: string): string {
  if (!text.includes('://') && !text.includes('eyJ')) return text;
  return text.replace(SECRET_IN_TEXT, (found) => (found.startsWith('eyJ') ? CENSOR : redactRedisUrl(found)));
}
