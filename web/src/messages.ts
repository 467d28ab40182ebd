// One conversation's messages: stored by id, ordered by seq, with streaming answers stitched from deltas.
// Every input (message:new, join/sync snapshots, acks, deltas) is merged idempotently, in any order.
import type { DeltaEvent, ErrorBody, Message } from './types.js';

/** An own message sent but not acknowledged: `sending` in flight, `unsent` failed (Retry resends). */
export interface Pending {
  clientId: string;
  content: string;
  state: 'sending' | 'unsent';
  /** Highest seq known when first sent: the stored copy must come after it. */
  afterSeq: number;
  error?: string;
  /** Bumped per send attempt, so the error of an outdated attempt cannot overwrite a newer one. */
  attempt: number;
}

export class MessageStore {
  private readonly byId = new Map<string, Message>();
  /** messageId -> index -> text; kept even before the message itself is known. */
  private readonly deltas = new Map<string, Map<number, string>>();
  private readonly errors = new Map<string, ErrorBody>();
  readonly pending = new Map<string, Pending>();
  /** message id -> the clientMessageId it was sent with, for own messages acked in this tab. */
  readonly clientIdOf = new Map<string, string>();

  maxSeq(): number {
    let max = 0;
    for (const message of this.byId.values()) max = Math.max(max, message.seq);
    return max;
  }

  sorted(): Message[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Keeps whichever of the stored and incoming copies is further along; true when the incoming one won. */
  merge(incoming: Message): boolean {
    const existing = this.byId.get(incoming.id);
    if (existing && !supersedes(incoming, existing)) return false;
    let message = incoming;
    const error = this.errors.get(incoming.id);
    if (error && message.status === 'streaming') message = { ...message, status: 'failed' };
    this.byId.set(message.id, message);
    const deltas = this.deltas.get(message.id);
    if (message.status !== 'streaming') {
      this.deltas.delete(message.id);
    } else if (deltas) {
      // A snapshot covers deltas 0..nextIndex-1: those are already in its content.
      for (const index of deltas.keys()) if (index < (message.nextIndex ?? 0)) deltas.delete(index);
    }
    return true;
  }

  /** Keeps a delta unless its answer is finished or its index is already covered by the snapshot. */
  addDelta({ messageId, index, delta }: DeltaEvent): boolean {
    const message = this.byId.get(messageId);
    if (message && (message.status !== 'streaming' || index < (message.nextIndex ?? 0))) return false;
    let forMessage = this.deltas.get(messageId);
    if (!forMessage) this.deltas.set(messageId, (forMessage = new Map()));
    if (forMessage.has(index)) return false;
    forMessage.set(index, delta);
    return true;
  }

  /** The answer failed; remembered even when the message itself has not arrived yet. */
  fail(messageId: string, error: ErrorBody): void {
    this.errors.set(messageId, error);
    this.deltas.delete(messageId);
    const message = this.byId.get(messageId);
    if (message?.status === 'streaming') this.byId.set(messageId, { ...message, status: 'failed' });
  }

  errorOf(messageId: string): ErrorBody | undefined {
    return this.errors.get(messageId);
  }

  /** Snapshot content plus the contiguous deltas from nextIndex on; a gap waits for its delta. */
  displayContent(message: Message): string {
    if (message.status !== 'streaming') return message.content;
    const deltas = this.deltas.get(message.id);
    let text = message.content;
    for (let index = message.nextIndex ?? 0; deltas?.has(index); index++) text += deltas.get(index);
    return text;
  }

  /** True when deltas beyond a gap are waiting for a missing index. */
  hasGap(message: Message): boolean {
    const deltas = this.deltas.get(message.id);
    if (message.status !== 'streaming' || !deltas) return false;
    let index = message.nextIndex ?? 0;
    while (deltas.has(index)) index++;
    return deltas.size > index - (message.nextIndex ?? 0);
  }

  addPending(clientId: string, content: string): Pending {
    const pending: Pending = { clientId, content, state: 'sending', afterSeq: this.maxSeq(), attempt: 0 };
    this.pending.set(clientId, pending);
    return pending;
  }

  acked(clientId: string, message: Message): void {
    this.pending.delete(clientId);
    this.clientIdOf.set(message.id, clientId);
    this.merge(message);
  }

  /**
   * Pending messages whose stored copy already arrived by message:new before the ack (the wire carries no
   * clientMessageId, so they are matched by author, content and seq); rendering hides them to avoid doubles.
   */
  claimedPending(userId: string): Map<string, string> {
    const claimed = new Map<string, string>(); // message id -> clientId
    const acked = new Set(this.clientIdOf.keys());
    const own = this.sorted().filter((m) => m.role === 'user' && m.authorId === userId && !acked.has(m.id));
    for (const pending of this.pending.values()) {
      const match = own.find(
        (m) => !claimed.has(m.id) && m.seq > pending.afterSeq && m.content === pending.content,
      );
      if (match) claimed.set(match.id, pending.clientId);
    }
    return claimed;
  }
}

function supersedes(incoming: Message, existing: Message): boolean {
  if (existing.status === 'streaming') {
    return incoming.status !== 'streaming' || (incoming.nextIndex ?? 0) >= (existing.nextIndex ?? 0);
  }
  // A finished message is never replaced by an older streaming snapshot.
  return incoming.status !== 'streaming';
}
