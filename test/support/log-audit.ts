import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The log audit: no test token, no password and no message content may appear in anything a service
 * process prints. The harness registers every secret it creates or sends (`tokenFor`, `RedisServer`,
 * `createPostgresDatabase`, `ServiceProcess.launch`'s environment, `request(…, 'message:send')`), and
 * `ServiceProcess` checks its output against the registry when it stops: a hit fails the test that owns
 * the service. Jest gives each test file its own module registry, so "process-wide" means per file.
 */
export type SecretKind =
  | 'test token'
  | 'test token signature'
  | 'JWT secret'
  | 'Redis password'
  | 'PostgreSQL password'
  | 'message content';

export interface Leak {
  kind: SecretKind;
  /** Up to 40 characters either side of the secret, the secret itself (and any other one) masked. */
  context: string;
}

/** Shorter values appear in ordinary text by chance ("x", "pw", "hello"): they cannot be audited. */
const MIN_SECRET_LENGTH = 8;
/** Message contents shorter than this are common words and ids, not someone's message. */
export const MIN_CONTENT_LENGTH = 12;
const CONTEXT_CHARS = 40;

const registry = new Map<string, SecretKind>();

/** Registers `value` as a secret of `kind`, with its URL-encoded form when that differs. */
export function registerSecret(kind: SecretKind, value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  registry.set(value, kind);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) registry.set(encoded, kind);
}

/** A minted JWT: the whole token, and its signature segment (the part that proves possession). */
export function registerToken(token: string): void {
  registerSecret('test token', token);
  registerSecret('test token signature', token.split('.')[2]);
}

/** The password of a `redis://` or `postgres://` URL, if it has one. */
export function registerUrlPassword(kind: 'Redis password' | 'PostgreSQL password', url: string): void {
  try {
    const { password } = new URL(url);
    if (password) registerSecret(kind, decodeURIComponent(password));
  } catch {
    // Not a URL (a test giving the service a malformed one on purpose): nothing to register.
    return;
  }
}

let fixedText: string | undefined;

/**
 * Every text the service could print by itself: its sources. A message content that occurs there
 * (say "Shutdown complete") would be found in a clean log, so it is not audited.
 */
function serviceSourceText(): string {
  if (fixedText !== undefined) return fixedText;
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) files.push(path);
    }
  };
  walk(resolve(process.cwd(), 'src'));
  fixedText = files.map((file) => readFileSync(file, 'utf8')).join('\n');
  return fixedText;
}

/** A message content the harness sends: audited if it is long enough and not fixed log text. */
export function registerMessageContent(content: unknown): void {
  if (typeof content !== 'string' || content.length < MIN_CONTENT_LENGTH) return;
  if (registry.has(content) || serviceSourceText().includes(content)) return;
  registry.set(content, 'message content');
}

/** The registered secrets (for tests of the audit itself). */
export function registeredSecrets(): ReadonlyMap<string, SecretKind> {
  return registry;
}

interface Hit {
  start: number;
  end: number;
  secret: string;
  kind: SecretKind;
}

/**
 * The secrets found in `output`, in order of appearance: one leak per secret (its first occurrence)
 * with the 40 characters either side, where every secret, cut by the window's edge or not, is shown as
 * `<kind>`. A secret inside a longer one (a token's signature inside the token) counts as the longer one.
 */
export function findLeaks(output: string, secrets: ReadonlyMap<string, SecretKind> = registry): Leak[] {
  const hits: Hit[] = [];
  for (const [secret, kind] of [...secrets].sort(([a], [b]) => b.length - a.length))
    for (let start = output.indexOf(secret); start >= 0; start = output.indexOf(secret, start + 1)) {
      const end = start + secret.length;
      if (!hits.some((hit) => start < hit.end && end > hit.start)) hits.push({ start, end, secret, kind });
    }
  hits.sort((a, b) => a.start - b.start);

  /** output[from, to) with each secret masked; a secret cut by either edge is taken whole, then masked. */
  const masked = (from: number, to: number): string => {
    for (const hit of hits) {
      if (hit.start < from && from < hit.end) from = hit.start;
      if (hit.start < to && to < hit.end) to = hit.end;
    }
    let text = '';
    let at = Math.max(0, from);
    for (const hit of hits.filter((h) => h.start >= from && h.end <= to)) {
      text += `${output.slice(at, hit.start)}<${hit.kind}>`;
      at = hit.end;
    }
    return text + output.slice(at, Math.min(to, output.length));
  };

  const seen = new Set<string>();
  return hits
    .filter((hit) => !seen.has(hit.secret) && seen.add(hit.secret))
    .map(({ start, end, kind }) => {
      const before = masked(start - CONTEXT_CHARS, start).slice(-CONTEXT_CHARS);
      const after = masked(end, end + CONTEXT_CHARS).slice(0, CONTEXT_CHARS);
      return { kind, context: `${before}<${kind}>${after}`.replaceAll('\n', '⏎') };
    });
}

/** Throws, naming each kind of secret found in `output` and where, if there is any. */
export function assertNoLeaks(
  output: string,
  owner: string,
  secrets: ReadonlyMap<string, SecretKind> = registry,
): void {
  const leaks = findLeaks(output, secrets);
  if (leaks.length === 0) return;
  const lines = leaks.map(({ kind, context }) => `  - a ${kind}: …${context}…`);
  throw new Error(`Log audit: ${owner} printed secrets:\n${lines.join('\n')}`);
}
