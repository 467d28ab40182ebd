// Typing indicators: throttled sending for the composer, and expiring display of other users' typing.

const SEND_EVERY_MS = 2_000;
const STOP_AFTER_MS = 3_000;
const SHOW_FOR_MS = 5_000;

/** Sends isTyping:true at most every 2 s while the composer has text, and isTyping:false 3 s after the last key. */
export class TypingSender {
  private conversationId: string | null = null;
  private lastSentAt = 0;
  private stopTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly send: (conversationId: string, isTyping: boolean) => void) {}

  input(conversationId: string, hasText: boolean): void {
    if (this.conversationId !== conversationId) this.stop();
    if (!hasText) return this.stop();
    this.conversationId = conversationId;
    const now = Date.now();
    if (now - this.lastSentAt >= SEND_EVERY_MS) {
      this.lastSentAt = now;
      this.send(conversationId, true);
    }
    clearTimeout(this.stopTimer);
    this.stopTimer = setTimeout(() => this.stop(), STOP_AFTER_MS);
  }

  stop(): void {
    clearTimeout(this.stopTimer);
    if (this.conversationId) this.send(this.conversationId, false);
    this.conversationId = null;
    this.lastSentAt = 0;
  }
}

interface Typist {
  name: string;
  timer: ReturnType<typeof setTimeout>;
}

/** Who else is typing, per conversation; an entry expires 5 s after its last isTyping:true. */
export class TypingDisplay {
  private readonly byConversation = new Map<string, Map<string, Typist>>();

  constructor(private readonly changed: (conversationId: string) => void) {}

  update(conversationId: string, userId: string, name: string, isTyping: boolean): void {
    let typists = this.byConversation.get(conversationId);
    if (!typists) this.byConversation.set(conversationId, (typists = new Map()));
    clearTimeout(typists.get(userId)?.timer);
    if (isTyping) {
      const timer = setTimeout(() => this.update(conversationId, userId, name, false), SHOW_FOR_MS);
      typists.set(userId, { name, timer });
    } else if (!typists.delete(userId)) {
      return;
    }
    this.changed(conversationId);
  }

  text(conversationId: string): string {
    const names = [...(this.byConversation.get(conversationId)?.values() ?? [])].map((t) => t.name);
    if (names.length === 0) return '';
    if (names.length === 1) return `${names[0]} is typing…`;
    if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
    return `${names.length} people are typing…`;
  }

  clear(): void {
    for (const typists of this.byConversation.values())
      for (const t of typists.values()) clearTimeout(t.timer);
    this.byConversation.clear();
  }
}
