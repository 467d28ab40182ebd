/** The columns a new message is inserted with (the rest take their defaults). */
export const INSERT_COLUMNS = 'id, conversation_id, seq, role, author_id, content, status, client_message_id';

/** id, conversationId, role, authorId, content, status, clientMessageId or null; seq is the database's. */
export type MessageInsertParams = [string, string, string, string, string, string, string | null];

export interface PendingInsert {
  params: MessageInsertParams;
  resolve(row: Record<string, unknown>): void;
  reject(error: unknown): void;
}

/** Group commit: one batch in flight per process; inserts asked for meanwhile form the next one (0002). */
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

  /** Releases what the inserter opened of its own (a connection); later inserts fail. */
  close(): void {}

  /** Writes `items` and settles each one, only once its row is committed. */
  protected abstract commit(items: PendingInsert[]): Promise<void>;
}
