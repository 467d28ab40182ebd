import { Command } from 'ioredis';
import { Registry } from 'prom-client';
import type { RedisClient, RedisRole } from '../redis/redis-client.factory.js';
import type { RedisManager } from '../redis/redis.manager.js';
import { RedisMetrics } from './redis.metrics.js';

/** Stands in for an ioredis client: `sendCommand` answers (or fails) each command once it is sent. */
class FakeClient {
  status = 'ready';
  sent: Command[] = [];
  sendCommand(command: Command): Promise<unknown> {
    this.sent.push(command);
    return command.promise;
  }
}

function managerWith(clients: Record<RedisRole, FakeClient>): RedisManager {
  return {
    enabled: true,
    client: (role: RedisRole) => clients[role] as unknown as RedisClient,
    isReady: (role: RedisRole) => clients[role].status === 'ready',
  } as unknown as RedisManager;
}

describe('RedisMetrics', () => {
  it('times each command once by role (a resend after a reconnect included), counts failures, reads readiness', async () => {
    const clients = { command: new FakeClient(), publisher: new FakeClient(), subscriber: new FakeClient() };
    const registry = new Registry();
    new RedisMetrics(registry, managerWith(clients));
    const value = async (series: string) =>
      Number(
        (await registry.metrics())
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.split(' ')[1] ?? 0,
      );

    const get = new Command('get', ['k']);
    const pending = clients.command.sendCommand(get);
    clients.command.sendCommand(get); // ioredis resends queued commands through sendCommand
    get.resolve('v');
    await expect(pending).resolves.toBe('v');
    const publish = new Command('publish', ['ch', 'x']);
    const failed = clients.publisher.sendCommand(publish);
    publish.reject(new Error('Connection is closed.'));
    await expect(failed).rejects.toThrow('Connection is closed.');
    await new Promise((resolve) => setImmediate(resolve));
    clients.subscriber.status = 'reconnecting';

    expect(clients.command.sent).toHaveLength(2);
    expect(await value('redis_command_duration_seconds_count{role="command"}')).toBe(1);
    expect(await value('redis_command_errors_total{role="command"}')).toBe(0);
    expect(await value('redis_command_duration_seconds_count{role="publisher"}')).toBe(1);
    expect(await value('redis_command_errors_total{role="publisher"}')).toBe(1);
    expect(await value('redis_client_ready{role="command"}')).toBe(1);
    expect(await value('redis_client_ready{role="subscriber"}')).toBe(0);
  });
});
