/**
 * Latency verdicts of both tools, on the mean round trip of a command from where the tool runs
 * (run it where the service runs). The service's Redis work is a few O(1) commands per socket event,
 * so on a LAN a healthy Redis answers well under a millisecond:
 * - mean < 5 ms: good;
 * - 5 ms to < 20 ms: slow but ok (a busy or distant Redis; every message now costs tens of ms);
 * - >= 20 ms: too slow (`redis:check` fails, `redis:health` is DEGRADED): the service's 2 s
 *   command timeout is still far away, but users feel it and backlogs build up under load.
 * The max is reported, never judged: one GC pause or scheduler hiccup must not fail a check.
 */
const LATENCY_GOOD_MS = 5;
export const LATENCY_LIMIT_MS = 20;

export type LatencyVerdict = 'good' | 'slow' | 'too slow';

export function latencyVerdict(meanMs: number): LatencyVerdict {
  if (meanMs < LATENCY_GOOD_MS) return 'good';
  if (meanMs < LATENCY_LIMIT_MS) return 'slow';
  return 'too slow';
}

export function describeLatencyVerdict(verdict: LatencyVerdict): string {
  switch (verdict) {
    case 'good':
      return `good (< ${LATENCY_GOOD_MS} ms)`;
    case 'slow':
      return `slow but ok (< ${LATENCY_LIMIT_MS} ms)`;
    default:
      return `too slow (>= ${LATENCY_LIMIT_MS} ms)`;
  }
}

/** Runs `operation` `times` times in sequence; mean and max round trip in ms. */
export async function measure(
  times: number,
  operation: () => Promise<unknown>,
): Promise<{ meanMs: number; maxMs: number }> {
  let total = 0;
  let max = 0;
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await operation();
    const elapsed = performance.now() - started;
    total += elapsed;
    max = Math.max(max, elapsed);
  }
  return { meanMs: total / times, maxMs: max };
}
