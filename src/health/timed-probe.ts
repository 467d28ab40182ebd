import type { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';

/** Each readiness check gets this long, so the whole answer (checks run in parallel) stays under 2 s. */
export const CHECK_TIMEOUT_MS = 1500;

export interface ProbeOptions {
  timeoutMs?: number;
  /** `degraded` keeps readiness at 200: for dependencies whose absence degrades the service. */
  onFailure?: 'down' | 'degraded';
}

/**
 * Runs `probe` under a timeout and reports `{status, latency_ms, message?}` under `key`; `message` is
 * the error when down, or what the probe returned if it returned a string.
 * The probe gets an AbortSignal that fires on timeout, to cancel work that supports it.
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
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const latency = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const note = await Promise.race([probe(controller.signal), timeout]);
    // A probe may return a short note for operators (e.g. the pub/sub canary's round trip).
    return session.up({ latency_ms: latency(), ...(typeof note === 'string' ? { message: note } : {}) });
  } catch (error) {
    const details = { latency_ms: latency(), message: (error as Error).message };
    return onFailure === 'degraded' ? session.degraded(details) : session.down(details);
  } finally {
    clearTimeout(timer);
  }
}
