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

/** Every live socket's session, written by its worker; a failing store never fails the socket. */
export abstract class SessionStore {
  /** Takes one of the user's socket slots for `sid`; false when all are taken; admits if the store fails. */
  abstract admit(userId: string, sid: string): Promise<boolean>;
  abstract open(sid: string, record: Omit<SessionRecord, 'conversations'>): Promise<void>;
  abstract setConversations(sid: string, conversations: string[]): Promise<void>;
  abstract close(sid: string): Promise<void>;
  abstract get(sid: string): Promise<SessionRecord | undefined>;
  /** How many sessions exist across all workers (SCAN, never KEYS). */
  abstract count(): Promise<number>;
}
