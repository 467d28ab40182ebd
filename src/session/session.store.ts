/** What the service records about one live socket (CONTRACT section 2). */
export interface SessionRecord {
  userId: string;
  name: string;
  pid: number;
  /** The host (pod) the socket lives on. */
  instance: string;
  connectedAt: string;
  conversations: string[];
}

/**
 * The session of every live socket, written only by the worker that holds it. A failing store never
 * fails the socket: sessions are bookkeeping, not a gate.
 */
export abstract class SessionStore {
  /** Takes one of the user's live-socket slots for `sid`; false when all are taken; admits if the store fails. */
  abstract admit(userId: string, sid: string): Promise<boolean>;
  abstract open(sid: string, record: Omit<SessionRecord, 'conversations'>): Promise<void>;
  abstract setConversations(sid: string, conversations: string[]): Promise<void>;
  abstract close(sid: string): Promise<void>;
  abstract get(sid: string): Promise<SessionRecord | undefined>;
  /** How many sessions exist across all workers (SCAN, never KEYS). */
  abstract count(): Promise<number>;
}
