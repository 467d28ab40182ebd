import { RETRY_BASE_MS, RETRY_MAX_MS, reconnectDelay } from './retry.js';

describe('reconnectDelay', () => {
  it('doubles from the base and never exceeds the ceiling', () => {
    const lowest = (attempt: number) => reconnectDelay(attempt, () => 0);
    const highest = (attempt: number) => reconnectDelay(attempt, () => 1);
    expect(highest(1)).toBe(RETRY_BASE_MS);
    expect(highest(2)).toBe(RETRY_BASE_MS * 2);
    for (const attempt of [10, 100, 10_000]) {
      expect(highest(attempt)).toBe(RETRY_MAX_MS);
      expect(lowest(attempt)).toBe(RETRY_MAX_MS / 2);
    }
  });

  it('spreads clients that retry together (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => reconnectDelay(8)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('always returns a delay, so a client never gives up for good', () => {
    expect(typeof reconnectDelay(1_000_000)).toBe('number');
  });
});
