// The conversations this tab knows, kept in localStorage per user id so a reload lists them again.
// Members are exact for conversations created here (the create ack); for joined ones only who was seen.
import type { ConversationView } from './types.js';

export interface ConversationEntry {
  id: string;
  title: string | null;
  /** From the create ack; absent when the conversation was joined by id. */
  memberIds?: string[];
  /** Distinct authors and typists seen in this conversation. */
  seen: string[];
}

export class Conversations {
  private readonly entries = new Map<string, ConversationEntry>();
  private readonly key: string;

  constructor(userId: string) {
    this.key = `chat-demo:conversations:${userId}`;
    try {
      const stored = JSON.parse(localStorage.getItem(this.key) ?? '[]') as ConversationEntry[];
      for (const entry of Array.isArray(stored) ? stored : []) {
        if (typeof entry?.id === 'string') this.entries.set(entry.id, { ...entry, seen: entry.seen ?? [] });
      }
    } catch {
      localStorage.removeItem(this.key);
    }
  }

  list(): ConversationEntry[] {
    return [...this.entries.values()];
  }

  get(id: string): ConversationEntry | undefined {
    return this.entries.get(id);
  }

  created(view: ConversationView): ConversationEntry {
    const entry = { id: view.id, title: view.title, memberIds: view.memberIds, seen: [] };
    this.entries.set(view.id, entry);
    this.save();
    return entry;
  }

  ensure(id: string): ConversationEntry {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { id, title: null, seen: [] };
      this.entries.set(id, entry);
      this.save();
    }
    return entry;
  }

  /** Records a user seen in the conversation; true when it is new (the members line changes). */
  noteSeen(id: string, userId: string): boolean {
    const entry = this.entries.get(id);
    if (!entry || entry.seen.includes(userId)) return false;
    entry.seen.push(userId);
    this.save();
    return true;
  }

  remove(id: string): void {
    this.entries.delete(id);
    this.save();
  }

  private save(): void {
    localStorage.setItem(this.key, JSON.stringify(this.list()));
  }
}

/** The members line: exact ids after a create, otherwise the users seen so far. */
export function membersText(entry: ConversationEntry): string {
  if (entry.memberIds) return `Members: ${entry.memberIds.join(', ')}`;
  if (entry.seen.length === 0) return 'Members: none seen in this conversation yet';
  return `Seen in this conversation: ${entry.seen.join(', ')}`;
}
