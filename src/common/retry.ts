/** First reconnect delay; doubles per attempt. */
export const RETRY_BASE_MS = 100;
/** Ceiling of the reconnect delay: retries never stop, but Redis coming back is noticed within seconds. */
export const RETRY_MAX_MS = 3000;

/** Exponential backoff with equal jitter, so workers that lost Redis do not reconnect in lock-step. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
