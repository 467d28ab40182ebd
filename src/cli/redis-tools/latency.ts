/**
 * Latency verdicts on the mean round trip from where the tool runs: under 5 ms good, under 20 ms slow,
 * else too slow (users feel it long before the 2 s command timeout). The max is reported, never judged.
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
