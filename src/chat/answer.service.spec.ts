import { jest } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test, type TestingModule } from '@nestjs/testing';
import { Registry } from 'prom-client';
import type { AuthUser } from '../auth/auth-user.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { Message, type MessageSource } from '../conversations/message.entity.js';
import type { MessageView } from '../conversations/message.view.js';
import { type ChatTurn, LlmError, OllamaClient } from '../llm/ollama.client.js';
import { RETRIEVER, type RetrieveOptions, type RetrievedSource } from '../retrieval/retriever.js';
import { AnswerMetrics } from './answer.metrics.js';
import { AnswerProgressStore, MemoryAnswerProgressStore } from './answer-progress.store.js';
import { AnswerService, CHECKPOINT_INTERVAL_MS } from './answer.service.js';
import { ChatEmitter } from './chat-emitter.js';
import type { ErrorBody } from './chat.events.js';

const alice: AuthUser = { id: 'alice', name: 'Alice' };
const CONVERSATION = 'conv-1';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** ConversationsService as AnswerService uses it, over an in-memory list of messages. */
class FakeConversations {
  readonly messages: Message[] = [];
  /** When set, append waits for it (an INSERT that is slow to commit). */
  appendGate?: Promise<void>;

  append = jest.fn(async (input: Parameters<ConversationsService['append']>[0]) => {
    await this.appendGate;
    const now = new Date();
    const message = Object.assign(new Message(), {
      ...input,
      id: `m${this.messages.length + 1}`,
      seq: this.messages.length + 1,
      sources: null,
      clientMessageId: input.clientMessageId ?? null,
      streamIndex: 0,
      createdAt: now,
      updatedAt: now,
    });
    this.messages.push(message);
    return { message, duplicate: false };
  });

  checkpoint = jest.fn(async (id: string, content: string, streamIndex: number) => {
    Object.assign(this.byId(id), { content, streamIndex });
  });

  finish = jest.fn(
    async (
      id: string,
      status: 'complete' | 'failed' | 'cancelled',
      content: string,
      sources: MessageSource[],
    ) => {
      // As the real one: only a streaming answer takes a final state.
      const won = this.byId(id).status === 'streaming';
      if (won) Object.assign(this.byId(id), { status, content, sources: sources.length ? sources : null });
      return { message: Object.assign(new Message(), this.byId(id)), won };
    },
  );

  history = jest.fn(async (conversationId: string, uptoSeq: number, limit: number) =>
    this.messages
      .filter((m) => m.conversationId === conversationId && m.seq <= uptoSeq && m.status === 'complete')
      .slice(-limit),
  );

  byId(id: string): Message {
    const message = this.messages.find((m) => m.id === id);
    if (!message) throw new Error(`no message ${id}`);
    return message;
  }
}

type EmitterEvent =
  | { type: 'new'; message: MessageView }
  | { type: 'delta'; conversationId: string; messageId: string; index: number; delta: string }
  | { type: 'done'; message: MessageView }
  | { type: 'error'; conversationId: string; messageId: string; error: ErrorBody };

/** ChatEmitter that records what the rooms would receive, in order. */
class RecordingEmitter {
  readonly events: EmitterEvent[] = [];
  private waiters: { type: EmitterEvent['type']; count: number; resolve: () => void }[] = [];

  messageNew(message: MessageView): void {
    this.record({ type: 'new', message });
  }
  messageDelta(conversationId: string, messageId: string, index: number, delta: string): void {
    this.record({ type: 'delta', conversationId, messageId, index, delta });
  }
  messageDone(message: MessageView): void {
    this.record({ type: 'done', message });
  }
  messageError(conversationId: string, messageId: string, error: ErrorBody): void {
    this.record({ type: 'error', conversationId, messageId, error });
  }

  of<T extends EmitterEvent['type']>(type: T): Extract<EmitterEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<EmitterEvent, { type: T }> => e.type === type);
  }

  /** Resolves once `count` events of `type` have been recorded. */
  waitFor(type: EmitterEvent['type'], count = 1): Promise<void> {
    const { promise, resolve } = deferred();
    this.waiters.push({ type, count, resolve });
    this.check();
    return promise;
  }

  /** Resolves at the answer's end: its `message:done` or `message:error`. */
  ended(): Promise<void> {
    return Promise.race([this.waitFor('done'), this.waitFor('error')]);
  }

  private record(event: EmitterEvent): void {
    this.events.push(event);
    this.check();
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.of(w.type).length < w.count) return true;
      w.resolve();
      return false;
    });
  }
}

type StreamChat = (prompt: ChatTurn[], signal: AbortSignal) => AsyncGenerator<string>;

/** A model that answers with these tokens. */
function tokens(...parts: string[]): StreamChat {
  return async function* () {
    for (const part of parts) yield part;
  };
}

/** A model that answers these tokens, then waits until the answer is abandoned (as OllamaClient does). */
function untilAborted(...parts: string[]): StreamChat {
  return async function* (_prompt, signal) {
    for (const part of parts) yield part;
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    throw new LlmError('INTERNAL', 'The answer was abandoned');
  };
}

describe('AnswerService', () => {
  let moduleRef: TestingModule;
  let service: AnswerService;
  let conversations: FakeConversations;
  let emitter: RecordingEmitter;
  let progress: MemoryAnswerProgressStore;
  let metrics: AnswerMetrics;
  let question: MessageView;
  let logged: unknown[][];
  const streamChat = jest.fn<StreamChat>();
  const retrieve = jest.fn<(query: string, options?: RetrieveOptions) => Promise<RetrievedSource[]>>();

  async function compile(assistantEnabled = true): Promise<void> {
    conversations = new FakeConversations();
    emitter = new RecordingEmitter();
    logged = [];
    const record =
      (level: string) =>
      (...args: unknown[]) =>
        void logged.push([level, ...args]);
    const logger: LoggerService = { log: record('log'), warn: record('warn'), error: record('error') };
    streamChat.mockReset();
    retrieve.mockReset().mockResolvedValue([]);
    moduleRef = await Test.createTestingModule({
      providers: [
        AnswerService,
        { provide: ConversationsService, useValue: conversations },
        { provide: OllamaClient, useValue: { streamChat } },
        { provide: RETRIEVER, useValue: { retrieve } },
        { provide: AnswerMetrics, useFactory: () => new AnswerMetrics(new Registry()) },
        { provide: AnswerProgressStore, useClass: MemoryAnswerProgressStore },
        { provide: ChatEmitter, useValue: emitter },
        { provide: ConfigService, useValue: { get: () => ({ assistantEnabled }) } },
      ],
    })
      .setLogger(logger)
      .compile();
    service = moduleRef.get(AnswerService);
    progress = moduleRef.get(AnswerProgressStore);
    metrics = moduleRef.get(AnswerMetrics);
    const { message } = await conversations.append({
      conversationId: CONVERSATION,
      authorId: 'alice',
      role: 'user',
      content: 'What is the capital of France?',
      status: 'complete',
    });
    question = {
      id: message.id,
      conversationId: CONVERSATION,
      seq: message.seq,
      role: 'user',
      authorId: 'alice',
      content: message.content,
      status: 'complete',
      createdAt: message.createdAt.toISOString(),
    };
    conversations.append.mockClear();
  }

  /** The answers counter, by outcome. */
  const outcomes = async () =>
    Object.fromEntries((await metrics.answers.get()).values.map((v) => [v.labels.outcome, v.value]));

  /** The assistant message the service stored (the draft of the answer). */
  const draft = () => conversations.messages.find((m) => m.role === 'assistant')!;

  beforeEach(() => compile());

  afterEach(async () => {
    jest.useRealTimers();
    await moduleRef.close();
  });

  describe('streaming', () => {
    it('announces a streaming draft, sends the first token at once and the next ones together, indexed from 0, and ends with the whole answer', async () => {
      streamChat.mockImplementation(tokens('Par', 'is', ' is the capital.'));

      service.start(alice, question, 'socket-1');
      await emitter.ended();

      const id = draft().id;
      expect(emitter.events).toEqual([
        {
          type: 'new',
          message: expect.objectContaining({
            id,
            conversationId: CONVERSATION,
            seq: 2,
            role: 'assistant',
            authorId: 'assistant',
            content: '',
            status: 'streaming',
            sources: [],
            nextIndex: 0,
          }),
        },
        // The first token goes at once; the others, arriving within DELTA_INTERVAL_MS, travel together.
        { type: 'delta', conversationId: CONVERSATION, messageId: id, index: 0, delta: 'Par' },
        { type: 'delta', conversationId: CONVERSATION, messageId: id, index: 1, delta: 'is is the capital.' },
        {
          type: 'done',
          message: expect.objectContaining({
            id,
            status: 'complete',
            content: 'Paris is the capital.',
            sources: [],
          }),
        },
      ]);
      expect(emitter.of('done')[0].message).not.toHaveProperty('nextIndex');
      expect(conversations.finish).toHaveBeenCalledWith(id, 'complete', 'Paris is the capital.', []);
      expect(draft()).toMatchObject({ status: 'complete', content: 'Paris is the capital.' });
    });

    it('asks the model with the conversation history, the question last', async () => {
      streamChat.mockImplementation(tokens('ok'));

      service.start(alice, question);
      await emitter.ended();

      expect(conversations.history).toHaveBeenCalledWith(CONVERSATION, question.seq, expect.any(Number));
      const [prompt, signal] = streamChat.mock.calls[0];
      expect(prompt[0].role).toBe('system');
      expect(prompt.at(-1)).toEqual({ role: 'user', content: 'What is the capital of France?' });
      expect(signal).toBeInstanceOf(AbortSignal);
    });

    it('records each delta in the progress store before sending it, and clears it at the end', async () => {
      streamChat.mockImplementation(tokens('a', 'b', 'c'));
      const seen: unknown[] = [];
      const send = emitter.messageDelta.bind(emitter);
      jest.spyOn(emitter, 'messageDelta').mockImplementation((conversationId, messageId, index, delta) => {
        // MemoryAnswerProgressStore.read looks the entry up synchronously: this is the store as of the send.
        void progress.read(messageId).then((p) => seen.push(p));
        send(conversationId, messageId, index, delta);
      });

      service.start(alice, question);
      await emitter.ended();
      await moduleRef.close(); // waits for the answer task to finish its cleanup

      expect(seen).toEqual([
        { content: 'a', nextIndex: 1 },
        { content: 'abc', nextIndex: 2 },
      ]);
      expect(await progress.read(draft().id)).toBeUndefined();
    });

    it('counts the completed answer and its time to first token', async () => {
      streamChat.mockImplementation(tokens('x', 'y'));

      service.start(alice, question);
      await emitter.ended();

      expect(await outcomes()).toEqual({ complete: 1 });
      const firstToken = await metrics.timeToFirstToken.get();
      expect(firstToken.values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(1);
    });
  });

  describe('sources', () => {
    const found: RetrievedSource[] = [
      { id: 'doc-1', title: 'Capitals', snippet: 'Paris is the capital of France.', score: 0.9 },
      { id: 'doc-2', title: 'Rivers', snippet: 'The Seine flows through Paris.', score: 0.4 },
    ];

    it('retrieves sources for the question, quotes them in the prompt, and ends with them', async () => {
      retrieve.mockResolvedValue(found);
      streamChat.mockImplementation(tokens('Paris [1].'));

      service.start(alice, question);
      await emitter.ended();

      expect(retrieve).toHaveBeenCalledWith('What is the capital of France?', {
        limit: 5,
        signal: expect.any(AbortSignal),
      });
      expect(streamChat.mock.calls[0][0][0].content).toContain(
        '[1] Capitals: Paris is the capital of France.',
      );
      expect(emitter.of('done')[0].message.sources).toEqual(found);
      expect(conversations.finish).toHaveBeenCalledWith(draft().id, 'complete', 'Paris [1].', found);
    });

    it('keeps at most 5 sources, in the contract shape, whatever the retriever returns', async () => {
      const loose = Array.from({ length: 7 }, (_, i) => ({
        id: `doc-${i}`,
        title: `T${i}`,
        snippet: 's'.repeat(1000),
        score: 1 - i / 10,
        body: 'the whole document',
      }));
      retrieve.mockResolvedValue(loose);
      streamChat.mockImplementation(tokens('ok'));

      service.start(alice, question);
      await emitter.ended();

      const sources = emitter.of('done')[0].message.sources!;
      expect(sources.map((s) => s.id)).toEqual(['doc-0', 'doc-1', 'doc-2', 'doc-3', 'doc-4']);
      for (const source of sources) {
        expect(Object.keys(source).sort()).toEqual(['id', 'score', 'snippet', 'title']);
        expect(source.snippet.length).toBeLessThan(1000);
      }
    });

    it('answers without sources when the retriever fails', async () => {
      retrieve.mockRejectedValue(new Error('index offline'));
      streamChat.mockImplementation(tokens('From memory: Paris.'));

      service.start(alice, question);
      await emitter.ended();

      expect(emitter.of('done')[0].message).toMatchObject({ content: 'From memory: Paris.', sources: [] });
      expect(streamChat.mock.calls[0][0][0].content).toContain('No sources matched');
      expect(
        logged.some(([level, line]) => level === 'warn' && JSON.stringify(line).includes('Retrieval failed')),
      ).toBe(true);
    });
  });

  describe('failure', () => {
    it('ends an answer the model breaks mid-stream with message:error and stores it failed with the content so far', async () => {
      streamChat.mockImplementation(async function* () {
        yield 'Par';
        yield 'is is';
        throw new LlmError('LLM_UNAVAILABLE', 'Ollama failed mid-answer: model crashed');
      });

      service.start(alice, question);
      await emitter.ended();
      await moduleRef.close();

      const id = draft().id;
      expect(emitter.events.map((e) => e.type)).toEqual(['new', 'delta', 'delta', 'error']);
      expect(emitter.of('error')[0]).toEqual({
        type: 'error',
        conversationId: CONVERSATION,
        messageId: id,
        error: { code: 'LLM_UNAVAILABLE', message: 'Ollama failed mid-answer: model crashed' },
      });
      expect(conversations.finish).toHaveBeenCalledWith(id, 'failed', 'Paris is', []);
      expect(draft()).toMatchObject({ status: 'failed', content: 'Paris is' });
      expect(await progress.read(id)).toBeUndefined();
      expect(await outcomes()).toEqual({ LLM_UNAVAILABLE: 1 });
    });

    it('keeps the sources of a failed answer', async () => {
      const found = [{ id: 'doc-1', title: 'Capitals', snippet: 'Paris.', score: 0.9 }];
      retrieve.mockResolvedValue(found);
      streamChat.mockImplementation(async function* () {
        yield 'Par';
        throw new LlmError('LLM_UNAVAILABLE', 'Ollama sent nothing for 30000 ms mid-answer');
      });

      service.start(alice, question);
      await emitter.ended();

      expect(conversations.finish).toHaveBeenCalledWith(draft().id, 'failed', 'Par', found);
    });

    it('reports an unexpected error as INTERNAL without its details', async () => {
      streamChat.mockImplementation(async function* () {
        yield 'x';
        throw new TypeError("Cannot read properties of undefined (reading 'secret')");
      });

      service.start(alice, question);
      await emitter.ended();

      expect(emitter.of('error')[0].error).toEqual({ code: 'INTERNAL', message: 'The answer failed' });
      expect(draft().status).toBe('failed');
      expect(await outcomes()).toEqual({ INTERNAL: 1 });
      expect(logged.some(([level]) => level === 'error')).toBe(true);
    });

    it('still tells the room when the failed answer cannot be saved either', async () => {
      streamChat.mockImplementation(async function* () {
        yield 'x';
        throw new LlmError('LLM_UNAVAILABLE', 'Ollama is unreachable');
      });
      conversations.finish.mockRejectedValueOnce(new Error('database is down'));

      service.start(alice, question);
      await emitter.ended();

      expect(emitter.of('error')[0].error.code).toBe('LLM_UNAVAILABLE');
    });

    it('names the question in message:error when no answer could even be stored', async () => {
      conversations.append.mockRejectedValueOnce(new Error('database is down'));

      service.start(alice, question);
      await emitter.ended();

      expect(emitter.events).toEqual([
        {
          type: 'error',
          conversationId: CONVERSATION,
          messageId: question.id,
          error: { code: 'INTERNAL', message: 'The answer could not start' },
        },
      ]);
      expect(streamChat).not.toHaveBeenCalled();
      expect(await outcomes()).toEqual({ INTERNAL: 1 });
    });

    it('never logs the text of the question or of the answer', async () => {
      streamChat.mockImplementation(async function* () {
        yield 'Secret answer text';
        throw new LlmError('LLM_UNAVAILABLE', 'Ollama failed mid-answer: boom');
      });

      service.start(alice, question);
      await emitter.ended();

      const lines = JSON.stringify(logged);
      expect(lines).toContain(draft().id);
      expect(lines).not.toContain('Secret answer text');
      expect(lines).not.toContain('capital of France');
    });
  });

  describe('shutdown', () => {
    it('aborts an answer in flight when the application shuts down, stores it failed and tells the room', async () => {
      streamChat.mockImplementation(untilAborted('Half an '));
      service.start(alice, question);
      await emitter.waitFor('delta');
      const signal = streamChat.mock.calls[0][1];
      expect(signal.aborted).toBe(false);

      await moduleRef.close(); // runs beforeApplicationShutdown, which waits for the answer to end

      const id = draft().id;
      expect(signal.aborted).toBe(true);
      expect(emitter.of('error')).toEqual([
        {
          type: 'error',
          conversationId: CONVERSATION,
          messageId: id,
          error: { code: 'INTERNAL', message: 'The answer was abandoned' },
        },
      ]);
      expect(emitter.of('done')).toEqual([]);
      expect(draft()).toMatchObject({ status: 'failed', content: 'Half an ' });
    });

    it('aborts every answer in flight, not only one', async () => {
      streamChat.mockImplementation(untilAborted('...'));
      const second = { ...question, conversationId: 'conv-2' };
      service.start(alice, question);
      service.start(alice, second);
      await emitter.waitFor('delta', 2);

      await service.beforeApplicationShutdown();

      expect(streamChat.mock.calls.map(([, signal]) => signal.aborted)).toEqual([true, true]);
      expect(
        emitter
          .of('error')
          .map((e) => e.conversationId)
          .sort(),
      ).toEqual([CONVERSATION, 'conv-2']);
    });

    it('aborts an answer whose draft was still being stored when shutdown began, and waits for it', async () => {
      const stored = deferred();
      conversations.appendGate = stored.promise;
      streamChat.mockImplementation(untilAborted());
      service.start(alice, question);

      const shutdown = service.beforeApplicationShutdown();
      stored.resolve();
      await shutdown;

      expect(streamChat).toHaveBeenCalledTimes(1);
      expect(streamChat.mock.calls[0][1].aborted).toBe(true);
      expect(emitter.events.map((e) => e.type)).toEqual(['new', 'error']);
      expect(draft().status).toBe('failed');
    });

    it('returns at once when nothing is in flight', async () => {
      await expect(service.beforeApplicationShutdown()).resolves.toBeUndefined();
    });
  });

  describe('checkpoint', () => {
    beforeEach(() => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    });

    /** A model whose next token comes when the test says so. */
    function paced(...parts: string[]) {
      const gates = parts.map(() => deferred());
      const model: StreamChat = async function* () {
        for (const [i, part] of parts.entries()) {
          await gates[i].promise;
          yield part;
        }
      };
      return { model, next: (i: number) => gates[i].resolve() };
    }

    it('saves the content so far every CHECKPOINT_INTERVAL_MS while streaming, and stops when the answer ends', async () => {
      const { model, next } = paced('Par', 'is', '.');
      streamChat.mockImplementation(model);
      service.start(alice, question);

      next(0);
      await emitter.waitFor('delta', 1);
      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS - 1);
      expect(conversations.checkpoint).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      const id = draft().id;
      expect(conversations.checkpoint).toHaveBeenLastCalledWith(id, 'Par', 1);

      next(1);
      await emitter.waitFor('delta', 2);
      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS);
      expect(conversations.checkpoint).toHaveBeenLastCalledWith(id, 'Paris', 2);
      expect(draft()).toMatchObject({ status: 'streaming', content: 'Paris', streamIndex: 2 });

      next(2);
      await emitter.ended();
      const saved = conversations.checkpoint.mock.calls.length;
      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS * 5);
      expect(conversations.checkpoint).toHaveBeenCalledTimes(saved);
      expect(saved).toBe(2);
    });

    it('beats while the model has not sent its first token yet', async () => {
      const { model, next } = paced('late');
      streamChat.mockImplementation(model);
      service.start(alice, question);
      await emitter.waitFor('new');

      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS * 3);

      expect(conversations.checkpoint).toHaveBeenCalledTimes(3);
      expect(conversations.checkpoint).toHaveBeenLastCalledWith(draft().id, '', 0);
      next(0);
      await emitter.ended();
    });

    it('stops checkpointing an answer that failed', async () => {
      streamChat.mockImplementation(async function* () {
        yield 'x';
        throw new LlmError('LLM_UNAVAILABLE', 'gone');
      });
      service.start(alice, question);
      await emitter.ended();

      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS * 5);

      expect(conversations.checkpoint).not.toHaveBeenCalled();
    });

    it('saves only what the deltas already sent carry while the next one is still being recorded', async () => {
      const { model, next } = paced('Par', 'is');
      streamChat.mockImplementation(model);
      const recorded = deferred();
      const append = progress.append.bind(progress);
      jest.spyOn(progress, 'append').mockImplementation(async (id, delta) => {
        if (delta === 'is') await recorded.promise; // a slow progress write (a Redis round trip)
        return append(id, delta);
      });
      service.start(alice, question);
      next(0);
      await emitter.waitFor('delta', 1);
      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS);

      next(1);
      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS);
      recorded.resolve();
      await emitter.ended();

      // Content and index must match: a client syncing from the checkpoint appends the deltas from the index on.
      const id = draft().id;
      expect(conversations.checkpoint.mock.calls).toEqual([
        [id, 'Par', 1],
        [id, 'Par', 1],
      ]);
    });

    it('logs a failed checkpoint and goes on streaming', async () => {
      const { model, next } = paced('a', 'b');
      streamChat.mockImplementation(model);
      conversations.checkpoint.mockRejectedValueOnce(new Error('database is locked'));
      service.start(alice, question);
      next(0);
      await emitter.waitFor('delta', 1);

      await jest.advanceTimersByTimeAsync(CHECKPOINT_INTERVAL_MS);
      next(1);
      await emitter.ended();

      expect(emitter.of('done')[0].message.content).toBe('ab');
      expect(
        logged.some(
          ([level, line]) => level === 'warn' && JSON.stringify(line).includes('Checkpoint of answer'),
        ),
      ).toBe(true);
    });
  });

  describe('ASSISTANT_ENABLED=false', () => {
    it('starts nothing: no draft, no model call, no event', async () => {
      await moduleRef.close();
      await compile(false);
      streamChat.mockImplementation(tokens('should not be here'));

      service.start(alice, question);
      await service.beforeApplicationShutdown();

      expect(conversations.append).not.toHaveBeenCalled();
      expect(retrieve).not.toHaveBeenCalled();
      expect(streamChat).not.toHaveBeenCalled();
      expect(emitter.events).toEqual([]);
    });
  });
});
