/** The columns a new message is inserted with (the rest take their defaults). */
export const INSERT_COLUMNS = 'id, conversation_id, seq, role, author_id, content, status, client_message_id';

/**
 * A message to insert, as `insert` takes it: id, conversationId, role, authorId, content, status,
 * clientMessageId (or null). Its seq is the database's to give.
 */
export type MessageInsertParams = [string, string, string, string, string, string, string | null];

/** One insert waiting for its batch. */
export interface PendingInsert {
  params: MessageInsertParams;
  resolve(row: Record<string, unknown>): void;
  reject(error: unknown): void;
}

/**
 * Group commit: one batch is written at a time per process, and every insert asked for meanwhile
 * waits for the next one, which takes them all. When idle a batch is one message and costs one
 * `setImmediate` of latency; under load batches grow with the time a commit takes, dividing the
 * database round trips, lock takes and log writes by their size, so a busy worker falls behind less
 * instead of more (and holds one pooled connection for its inserts, not one per message).
 */
export abstract class GroupCommitInserter {
  private pending: PendingInsert[] = [];
  private flushing = false;

  /** Inserts a message with these parameters in the next batch; resolves to its stored row. */
  insert(params: MessageInsertParams): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.pending.push({ params, resolve, reject });
      if (!this.flushing && this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const items = this.pending;
        this.pending = [];
        // commit() settles every item itself; anything it throws (even synchronously) failed them all.
        await Promise.resolve()
          .then(() => this.commit(items))
          .catch((error: unknown) => {
            for (const item of items) item.reject(error);
          });
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes `items` and settles each one, only once its row is committed. */
  protected abstract commit(items: PendingInsert[]): Promise<void>;
}
