import { Inject, Injectable } from '@nestjs/common';
import { type SessionRecord, SessionStore } from './session.store.js';

/** Injection token of MAX_CONNECTIONS_PER_USER for the session stores. */
export const MAX_SOCKETS_PER_USER = Symbol('MAX_SOCKETS_PER_USER');

/** Single-worker mode (REDIS_ENABLED=false): the sessions of this process only. */
@Injectable()
export class MemorySessionStore extends SessionStore {
  private readonly sessions = new Map<string, SessionRecord>();
  /** Each user's admitted sids. */
  private readonly slots = new Map<string, Set<string>>();
  private readonly slotOwner = new Map<string, string>();

  constructor(@Inject(MAX_SOCKETS_PER_USER) private readonly maxPerUser: number) {
    super();
  }

  async admit(userId: string, sid: string): Promise<boolean> {
    const taken = this.slots.get(userId) ?? new Set<string>();
    if (taken.size >= this.maxPerUser && !taken.has(sid)) return false;
    this.slots.set(userId, taken.add(sid));
    this.slotOwner.set(sid, userId);
    return true;
  }

  async open(sid: string, record: Omit<SessionRecord, 'conversations'>): Promise<void> {
    this.sessions.set(sid, { ...record, conversations: [] });
  }

  async setConversations(sid: string, conversations: string[]): Promise<void> {
    const session = this.sessions.get(sid);
    if (session) session.conversations = conversations;
  }

  async close(sid: string): Promise<void> {
    this.sessions.delete(sid);
    const userId = this.slotOwner.get(sid);
    if (userId === undefined) return;
    this.slotOwner.delete(sid);
    const taken = this.slots.get(userId);
    taken?.delete(sid);
    if (taken?.size === 0) this.slots.delete(userId);
  }

  async get(sid: string): Promise<SessionRecord | undefined> {
    return this.sessions.get(sid);
  }

  async count(): Promise<number> {
    return this.sessions.size;
  }
}
