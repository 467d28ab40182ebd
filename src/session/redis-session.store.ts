import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { sessionKey, sessionPattern } from '../redis/redis-keys.js';
import { countKeys } from '../redis/redis-scan.js';
import { RedisManager } from '../redis/redis.manager.js';
import { type SessionRecord, SessionStore } from './session.store.js';

/**
 * `<prefix>:session:<sid>` hashes with a TTL. Live sockets' hashes are refreshed every third of the
 * TTL, so a crashed worker's sessions vanish within one TTL while live ones never expire.
 */
@Injectable()
export class RedisSessionStore extends SessionStore implements OnModuleDestroy {
  private readonly logger = new Logger('SessionStore');
  private readonly local = new Set<string>();
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly refresher: NodeJS.Timeout;
  private failing = false;

  constructor(private readonly redis: RedisManager) {
    super();
    this.prefix = sessionKey(redis.config.keyPrefix, '');
    this.ttl = redis.config.sessionTtlSeconds;
    this.refresher = setInterval(() => void this.refresh(), (this.ttl * 1000) / 3);
    this.refresher.unref();
  }

  private get client() {
    return this.redis.client('command');
  }

  async open(sid: string, record: Omit<SessionRecord, 'conversations'>): Promise<void> {
    this.local.add(sid);
    const key = this.prefix + sid;
    await this.attempt('open', () =>
      this.client
        .multi()
        .hset(key, { ...record, pid: String(record.pid), conversations: '[]' })
        .expire(key, this.ttl)
        .exec(),
    );
  }

  async setConversations(sid: string, conversations: string[]): Promise<void> {
    const key = this.prefix + sid;
    await this.attempt('update', () =>
      this.client
        .multi()
        .hset(key, 'conversations', JSON.stringify(conversations))
        .expire(key, this.ttl)
        .exec(),
    );
  }

  async close(sid: string): Promise<void> {
    this.local.delete(sid);
    await this.attempt('close', () => this.client.del(this.prefix + sid));
  }

  async get(sid: string): Promise<SessionRecord | undefined> {
    const hash = await this.client.hgetall(this.prefix + sid);
    if (!hash.userId) return undefined;
    return {
      userId: hash.userId,
      name: hash.name,
      pid: Number(hash.pid),
      instance: hash.instance,
      connectedAt: hash.connectedAt,
      conversations: JSON.parse(hash.conversations ?? '[]') as string[],
    };
  }

  async count(): Promise<number> {
    return countKeys(this.client, sessionPattern(this.redis.config.keyPrefix));
  }

  onModuleDestroy(): void {
    clearInterval(this.refresher);
  }

  private async refresh(): Promise<void> {
    await Promise.all(
      [...this.local].map((sid) =>
        this.attempt('refresh', () => this.client.expire(this.prefix + sid, this.ttl)),
      ),
    );
  }

  /** Runs a write; failures are logged once per outage (the Redis clients log the outage itself). */
  private async attempt(what: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
      if (this.failing) this.logger.log('Session writes succeed again');
      this.failing = false;
    } catch (error) {
      if (!this.failing)
        this.logger.warn(`Session ${what} failed (${(error as Error).message}); sockets keep working`);
      this.failing = true;
    }
  }
}
