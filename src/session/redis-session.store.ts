import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { sessionKey, sessionPattern, userSocketsKey } from '../redis/redis-keys.js';
import { countKeys } from '../redis/redis-scan.js';
import { sweepOrphanedSessions } from './orphaned-sessions.js';
import { RedisManager } from '../redis/redis.manager.js';
import { type SessionRecord, SessionStore } from './session.store.js';

/** A user's socket slot lapses this long after its last refresh (a crashed worker's slots free themselves). */
const SLOT_TTL_MS = 30_000;
const SLOT_REFRESH_MS = SLOT_TTL_MS / 3;
/** A dead worker's session hashes go within about this long after its registry entry lapsed. */
const ORPHAN_SWEEP_MS = 60_000;

/**
 * Drops the user's lapsed slots, then admits the sid unless all are taken, atomically. KEYS[1] the slot
 * set; ARGV now, lapse time, sid, max, key TTL (ms). Returns 1 if admitted.
 */
const ADMIT_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/** Session hashes with a TTL, refreshed every third of it while the socket lives. */
@Injectable()
export class RedisSessionStore extends SessionStore implements OnModuleDestroy {
  private readonly logger = new Logger('SessionStore');
  private readonly local = new Set<string>();
  /** The user of each socket admitted here, whose slot this process keeps refreshing. */
  private readonly slots = new Map<string, string>();
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly refresher: NodeJS.Timeout;
  private readonly slotRefresher: NodeJS.Timeout;
  private readonly orphanSweeper: NodeJS.Timeout;
  private failing = false;

  constructor(
    private readonly redis: RedisManager,
    private readonly maxPerUser: number,
  ) {
    super();
    this.prefix = sessionKey(redis.config.keyPrefix, '');
    this.ttl = redis.config.sessionTtlSeconds;
    this.refresher = setInterval(() => void this.refresh(), (this.ttl * 1000) / 3);
    this.refresher.unref();
    this.slotRefresher = setInterval(() => void this.refreshSlots(), SLOT_REFRESH_MS);
    this.slotRefresher.unref();
    // Jittered, and behind a lock: one worker of the whole deployment sweeps per period.
    this.orphanSweeper = setInterval(() => void this.sweepOrphans(), ORPHAN_SWEEP_MS + Math.random() * 5000);
    this.orphanSweeper.unref();
  }

  async admit(userId: string, sid: string): Promise<boolean> {
    const key = userSocketsKey(this.redis.config.keyPrefix, userId);
    let admitted = true;
    await this.attempt('admission', async () => {
      const now = Date.now();
      const args = [now, now + SLOT_TTL_MS, sid, this.maxPerUser, SLOT_TTL_MS];
      admitted = (await this.client.eval(ADMIT_SCRIPT, 1, key, ...args)) === 1;
    });
    if (admitted) this.slots.set(sid, userId);
    return admitted;
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

  /** Deletes the session and gives its slot back; a second call for the same sid writes nothing. */
  async close(sid: string): Promise<void> {
    const hadSession = this.local.delete(sid);
    const userId = this.slots.get(sid);
    this.slots.delete(sid);
    const keyPrefix = this.redis.config.keyPrefix;
    await Promise.all([
      hadSession && this.attempt('close', () => this.client.del(this.prefix + sid)),
      userId !== undefined &&
        this.attempt('close', () => this.client.zrem(userSocketsKey(keyPrefix, userId), sid)),
    ]);
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
    clearInterval(this.slotRefresher);
    clearInterval(this.orphanSweeper);
  }

  private async sweepOrphans(): Promise<void> {
    await this.attempt('sweep', async () => {
      const deleted = await sweepOrphanedSessions(this.client, this.redis.config.keyPrefix, {
        lockMs: ORPHAN_SWEEP_MS - 10_000,
      });
      if (deleted > 0) this.logger.log(`Removed ${deleted} session hashes of workers that are gone`);
    });
  }

  /**
   * Moves each live socket's slot lapse time forward (XX: a slot given back stays given back): per user,
   * one ZADD of all its sockets here and one PEXPIRE, without MULTI, as each alone is harmless; at 10,000
   * idle sockets this runs 1,000 times a second, so it is the service's idle cost.
   */
  private async refreshSlots(): Promise<void> {
    const lapse = Date.now() + SLOT_TTL_MS;
    const sidsByUser = new Map<string, (string | number)[]>();
    for (const [sid, userId] of this.slots) {
      const scored = sidsByUser.get(userId) ?? [];
      if (scored.length === 0) sidsByUser.set(userId, scored);
      scored.push(lapse, sid);
    }
    await Promise.all(
      [...sidsByUser].map(([userId, scored]) => {
        const key = userSocketsKey(this.redis.config.keyPrefix, userId);
        return this.attempt('refresh', () =>
          Promise.all([this.client.zadd(key, 'XX', ...scored), this.client.pexpire(key, SLOT_TTL_MS)]),
        );
      }),
    );
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
