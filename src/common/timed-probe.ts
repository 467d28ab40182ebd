import { Logger } from '@nestjs/common';
import type { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';

/** Each readiness check gets this long, so the whole answer (checks run in parallel) stays under 2 s. */
const CHECK_TIMEOUT_MS = 1500;

interface ProbeOptions {
  timeoutMs?: number;
  /** `degraded` keeps readiness at 200: for dependencies whose absence degrades the service. */
  onFailure?: 'down' | 'degraded';
}

/** A failure whose message is written for the public readiness body (no address, path or driver text). */
export class ProbeFailure extends Error {}

/** What readiness may say of a driver's error: its kind, never its text (addresses, hosts, paths). */
const PUBLIC_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left',
};

function publicMessage(error: unknown): string {
  if (error instanceof ProbeFailure) return error.message;
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  const known = PUBLIC_CAUSES[String(code)] ?? PUBLIC_CAUSES[String(cause?.code)];
  return known ?? 'unavailable (the reason is in the service log)';
}

const logger = new Logger('Readiness');
/** The failure last logged per check: each is logged once when it starts or changes, not per probe. */
const lastLogged = new Map<string, string>();

function noteOutcome(key: string, error?: unknown): void {
  const previous = lastLogged.get(key);
  if (error === undefined) {
    if (previous !== undefined) logger.log(`Readiness check ${key} is up again`);
    lastLogged.delete(key);
    return;
  }
  // The same failure has the same code (its text may name a fresh probe file or port every time).
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const failure = String(code ?? message ?? error);
  if (failure !== previous) logger.warn(`Readiness check ${key} failed: ${String(message ?? error)}`);
  lastLogged.set(key, failure);
}

/**
 * Runs `probe` under a timeout (its signal aborts then) and reports `{status, latency_ms, message?}`. When
 * down, `message` is public (a ProbeFailure's text or the error's kind); the raw error is logged once.
 */
export async function timedProbe<Key extends string>(
  health: HealthIndicatorService,
  key: Key,
  probe: (signal: AbortSignal) => Promise<unknown>,
  { timeoutMs = CHECK_TIMEOUT_MS, onFailure = 'down' }: ProbeOptions = {},
): Promise<HealthIndicatorResult<Key>> {
  const session = health.check(key);
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ProbeFailure(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const latency = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const note = await Promise.race([probe(controller.signal), timeout]);
    noteOutcome(key);
    // A probe may return a short note for operators (e.g. the pub/sub canary's round trip).
    return session.up({ latency_ms: latency(), ...(typeof note === 'string' ? { message: note } : {}) });
  } catch (error) {
    noteOutcome(key, error);
    const details = { latency_ms: latency(), message: publicMessage(error) };
    return onFailure === 'degraded' ? session.degraded(details) : session.down(details);
  } finally {
    clearTimeout(timer);
  }
}
