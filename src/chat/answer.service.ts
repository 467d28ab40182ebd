import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import type { MessageSource } from '../conversations/message.entity.js';
import { LlmError, OllamaClient } from '../llm/ollama.client.js';
import { AnswerMetrics } from './answer.metrics.js';
import { RETRIEVER, type Retriever } from '../retrieval/retriever.js';
import { buildPrompt, HISTORY_MESSAGES } from './answer-prompt.js';
import { asReference } from './answer-sources.js';
import { AnswerProgressStore } from './answer-progress.store.js';
import type { AuthUser } from '../auth/auth-user.js';
import { type MessageView, toMessageView } from '../conversations/message.view.js';
import type { ErrorBody } from './chat.events.js';
import { ChatEmitter } from './chat-emitter.js';
import { DeltaBatcher } from './delta-batcher.js';

const ASSISTANT_ID = 'assistant';
/** How often a streaming answer's content is saved (and its heartbeat beats). */
export const CHECKPOINT_INTERVAL_MS = 1000;
/**
 * Tokens that arrive within this of the last delta wait and travel together in the next one, up to
 * DELTA_MAX_CHARS (at most 12 KB of UTF-8).
 */
export const DELTA_INTERVAL_MS = 100;
const DELTA_MAX_CHARS = 4096;
/** Sources per answer, and the time retrieval may take before the answer goes on without them. */
const SOURCE_LIMIT = 5;
const RETRIEVAL_TIMEOUT_MS = 2000;

/** The ids on this service's log lines (never the question's or the answer's text). */
interface AnswerLogIds {
  socketId?: string;
  userId: string;
  conversationId: string;
  messageId?: string;
}

/**
 * Answers each user message once, on the worker that received it: a `streaming` assistant message,
 * Ollama's tokens as `message:delta`s (each the tokens of up to DELTA_INTERVAL_MS, never the
 * accumulated text), a checkpoint about once a second, then `message:done` or `message:error`.
 */
@Injectable()
export class AnswerService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('AnswerService');
  private readonly inFlight = new Map<string, AbortController>();
  /** Answers a member asked to stop: their abort ends them `cancelled`, not `failed`. */
  private readonly cancelled = new Set<string>();
  /** Every answer task, so shutdown can wait for them to record their end. */
  private readonly running = new Set<Promise<void>>();
  private closing = false;
  private readonly enabled: boolean;

  constructor(
    private readonly conversations: ConversationsService,
    private readonly ollama: OllamaClient,
    @Inject(RETRIEVER) private readonly retriever: Retriever,
    private readonly metrics: AnswerMetrics,
    private readonly progress: AnswerProgressStore,
    private readonly emitter: ChatEmitter,
    configService: ConfigService<AppConfig, true>,
  ) {
    this.enabled = configService.get('ollama', { infer: true }).assistantEnabled;
  }

  /** Answers `question` in the background unless ASSISTANT_ENABLED=false; failures become `message:error`. */
  start(user: AuthUser, question: MessageView, socketId?: string): void {
    if (!this.enabled) return;
    const questionStoredAt = performance.now();
    const ids: AnswerLogIds = { socketId, userId: user.id, conversationId: question.conversationId };
    const running = this.answer(user, question, questionStoredAt, ids).catch((error: Error) => {
      // No assistant message was stored: the error names the question, so the room learns no answer comes.
      this.logger.error({
        msg: `Answer for message ${question.id} could not start: ${error.message}`,
        ...ids,
        messageId: question.id,
      });
      this.metrics.answers.inc({ outcome: 'INTERNAL' });
      this.emitter.messageError(question.conversationId, question.id, {
        code: 'INTERNAL',
        message: 'The answer could not start',
      });
    });
    this.running.add(running);
    void running.finally(() => this.running.delete(running));
  }

  private async answer(user: AuthUser, question: MessageView, questionStoredAt: number, ids: AnswerLogIds) {
    const { conversationId } = question;
    const { message: draft } = await this.conversations.append({
      conversationId,
      authorId: ASSISTANT_ID,
      role: 'assistant',
      content: '',
      status: 'streaming',
    });
    this.emitter.messageNew(toMessageView(draft));

    const controller = new AbortController();
    this.inFlight.set(draft.id, controller);
    if (this.closing) controller.abort(); // started while shutdown was aborting the others
    const logIds = { ...ids, messageId: draft.id };
    let content = '';
    let sources: MessageSource[] = [];
    let tokens = 0;
    let firstTokenAt = 0;
    // What the deltas sent so far carry: the checkpoint saves exactly that, with the next index.
    let streamed = '';
    let deltas = 0;
    const batcher = new DeltaBatcher(DELTA_INTERVAL_MS, DELTA_MAX_CHARS, async (delta) => {
      // Recorded before it is sent: a client syncing meanwhile gets it either in the content or as a delta.
      await this.progress.append(draft.id, delta);
      streamed += delta;
      this.emitter.messageDelta(conversationId, draft.id, deltas++, delta);
    });
    const checkpoint = setInterval(() => {
      this.conversations.checkpoint(draft.id, streamed, deltas).catch((error: Error) => {
        this.logger.warn({ msg: `Checkpoint of answer ${draft.id} failed: ${error.message}`, ...logIds });
      });
    }, CHECKPOINT_INTERVAL_MS);
    try {
      sources = await this.retrieve(question.content, logIds);
      const history = await this.conversations.history(conversationId, question.seq, HISTORY_MESSAGES);
      const prompt = buildPrompt(
        history.map((m) => ({ role: m.role, content: m.content })),
        sources,
      );
      for await (const token of this.ollama.streamChat(prompt, controller.signal)) {
        if (tokens++ === 0) {
          firstTokenAt = performance.now();
          this.metrics.timeToFirstToken.observe((firstTokenAt - questionStoredAt) / 1000);
        }
        content += token;
        await batcher.push(token);
      }
      await batcher.end();
      clearInterval(checkpoint);
      const { message: done, won } = await this.conversations.finish(draft.id, 'complete', content, sources);
      if (won) this.emitter.messageDone(toMessageView(done));
      this.metrics.answers.inc({ outcome: 'complete' });
      const seconds = (performance.now() - firstTokenAt) / 1000;
      if (tokens > 1 && seconds > 0) this.metrics.tokensPerSecond.observe(tokens / seconds);
      this.logger.log({
        msg: `Message processed for ${user.name}: ${content.length} chars, ${sources.length} sources`,
        ...logIds,
      });
    } catch (failure) {
      clearInterval(checkpoint);
      // The tokens that came before the failure still reach the room, unless sending is what failed.
      await batcher.end().catch(() => batcher.cancel());
      if (this.cancelled.has(draft.id)) return await this.endCancelled(draft.id, content, sources, logIds);
      const error: ErrorBody =
        failure instanceof LlmError
          ? { code: failure.code, message: failure.message }
          : { code: 'INTERNAL', message: 'The answer failed' };
      // The model's failures are expected (Ollama down or slow): a line without a stack.
      if (failure instanceof LlmError)
        this.logger.warn({
          msg: `Answer ${draft.id} failed: ${failure.code}: ${failure.message}`,
          ...logIds,
        });
      else
        this.logger.error({
          msg: `Answer ${draft.id} failed: ${(failure as Error)?.message}`,
          ...logIds,
          err: failure,
        });
      this.metrics.answers.inc({ outcome: error.code });
      await this.conversations.finish(draft.id, 'failed', content, sources).catch((saveError: Error) => {
        this.logger.error({
          msg: `Could not mark answer ${draft.id} failed: ${saveError.message}`,
          ...logIds,
        });
      });
      this.emitter.messageError(conversationId, draft.id, error);
    } finally {
      this.inFlight.delete(draft.id);
      this.cancelled.delete(draft.id);
      await this.progress.clear(draft.id).catch(() => undefined);
    }
  }

  /**
   * Stops an answer this process is generating: its Ollama request is aborted (the connection closed, so
   * the model stops) and it ends `cancelled`. False when it is not generated here.
   */
  cancelLocal(messageId: string): boolean {
    const controller = this.inFlight.get(messageId);
    if (!controller) return false;
    this.cancelled.add(messageId);
    controller.abort();
    return true;
  }

  /** The content produced so far is kept, and `message:done` (after the last delta) carries it. */
  private async endCancelled(id: string, content: string, sources: MessageSource[], logIds: AnswerLogIds) {
    this.metrics.answers.inc({ outcome: 'cancelled' });
    const { message, won } = await this.conversations.finish(id, 'cancelled', content, sources);
    if (won) this.emitter.messageDone(toMessageView(message));
    this.logger.log({ msg: `Answer ${id} cancelled after ${content.length} chars`, ...logIds });
  }

  /** Sources for the question; a slow or failing retriever costs the answer its sources, not the answer. */
  private async retrieve(question: string, logIds: AnswerLogIds): Promise<MessageSource[]> {
    const signal = AbortSignal.timeout(RETRIEVAL_TIMEOUT_MS);
    try {
      const found = await Promise.race([
        this.retriever.retrieve(question, { limit: SOURCE_LIMIT, signal }),
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('timed out'))),
        ),
      ]);
      return found
        .slice(0, SOURCE_LIMIT)
        .map(asReference)
        .filter((source) => source !== undefined);
    } catch (error) {
      this.logger.warn({
        msg: `Retrieval failed, answering without sources: ${(error as Error).message}`,
        ...logIds,
      });
      return [];
    }
  }

  /** Before Redis and the database close: streaming answers are aborted, failed and their rooms told. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    for (const controller of this.inFlight.values()) controller.abort();
    // Answers that began while this ran (a send already in its handler) are aborted as they start.
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
