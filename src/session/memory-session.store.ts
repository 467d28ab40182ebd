import { Injectable } from '@nestjs/common';
import { type SessionRecord, SessionStore } from './session.store.js';

/** Single-worker mode (REDIS_ENABLED=false): the sessions of this process only. */
@Injectable()
export class MemorySessionStore extends SessionStore {
  private readonly sessions = new Map<string, SessionRecord>();

  async open(sid: string, record: Omit<SessionRecord, 'conversations'>): Promise<void> {
    this.sessions.set(sid, { ...record, conversations: [] });
  }

  async setConversations(sid: string, conversations: string[]): Promise<void> {
    const session = this.sessions.get(sid);
    if (session) session.conversations = conversations;
  }

  async close(sid: string): Promise<void> {
    this.sessions.delete(sid);
  }

  async get(sid: string): Promise<SessionRecord | undefined> {
    return this.sessions.get(sid);
  }

  async count(): Promise<number> {
    return this.sessions.size;
  }
}
