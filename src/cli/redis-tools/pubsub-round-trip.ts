import type { RedisConfig } from '../../config/app-config.js';
import type { RedisClient } from '../../redis/redis-client.factory.js';
import { CANARY_TIMEOUT_MS } from '../../redis/pubsub-canary.js';
import { toolCanaryChannel } from '../../redis/redis-keys.js';
import {
  isPermissionError,
  messageOf,
  randomId,
  roundMs,
  STEP_TIMEOUT_MS,
  withTimeout,
} from './connection.js';
import type { HealthSample } from './health-sample.js';

/** A pub/sub round trip on the tool's own connection (the workers' canary uses the adapter's). */
export async function canaryRoundTrip(
  config: RedisConfig,
  publisher: RedisClient,
  subscriber: RedisClient,
  scrub: (text: string) => string,
  sample: HealthSample,
  unhealthy: string[],
): Promise<HealthSample['canary']> {
  const sharded = config.mode === 'cluster';
  const channel = toolCanaryChannel(config.keyPrefix, randomId());
  const token = randomId();
  let onMessage: ((from: string, message: string) => void) | undefined;
  const arrived = new Promise<number>((resolve) => {
    onMessage = (from, message) => {
      if (from === channel && message === token) resolve(performance.now());
    };
    subscriber.on(sharded ? 'smessage' : 'message', onMessage);
  });
  try {
    await withTimeout(
      sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel),
      STEP_TIMEOUT_MS,
      'SUBSCRIBE',
    );
    const sent = performance.now();
    await (sharded ? publisher.spublish(channel, token) : publisher.publish(channel, token));
    const rttMs = roundMs((await withTimeout(arrived, CANARY_TIMEOUT_MS, 'the canary')) - sent);
    return { ok: true, rttMs, detail: `round trip ${rttMs} ms on ${channel}` };
  } catch (error) {
    const message = messageOf(error, scrub);
    if (isPermissionError(error)) {
      sample.unavailable.canary = message;
      return { ok: false, rttMs: null, detail: `unavailable: ${message}` };
    }
    unhealthy.push(`pub/sub canary failed: ${message}`);
    return { ok: false, rttMs: null, detail: message };
  } finally {
    if (onMessage) subscriber.off(sharded ? 'smessage' : 'message', onMessage);
  }
}
