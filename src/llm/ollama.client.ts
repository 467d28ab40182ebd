import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig, OllamaConfig } from '../config/app-config.js';
import { reconnectDelay } from '../common/retry.js';

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Why an answer could not be produced; `code` goes to the client in `message:error`. */
export class LlmError extends Error {
  constructor(
    readonly code: 'LLM_UNAVAILABLE' | 'INTERNAL',
    message: string,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}

/** Attempts for a request Ollama refused before streaming (busy queue, connection refused): 1 + retries. */
const MAX_ATTEMPTS = 3;
/** Longest answer in UTF-8 bytes, so `message:done` (with its sources) stays under the 64 KiB event limit. */
const MAX_ANSWER_BYTES = 32 * 1024;

/** The longest prefix of `text` whose UTF-8 encoding fits in `bytes`, never cutting a character. */
export function utf8Prefix(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let used = 0;
  let end = 0;
  for (const char of text) {
    used += Buffer.byteLength(char);
    if (used > bytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}

interface OllamaChunk {
  message?: { content?: string };
  done?: boolean;
  error?: string;
}

/**
 * Streams `POST /api/chat` (NDJSON) with `fetch`, as the `ollama` package has no idle timeout between
 * tokens. Headers within OLLAMA_CONNECT_TIMEOUT_MS, chunks within OLLAMA_IDLE_TIMEOUT_MS; a 503 or a
 * refused connection is retried before anything streamed; an `{"error"}` line is a failure.
 */
@Injectable()
export class OllamaClient {
  private readonly config: OllamaConfig;

  constructor(configService: ConfigService<AppConfig, true>) {
    this.config = configService.get('ollama', { infer: true });
  }

  async *streamChat(messages: ChatTurn[], signal: AbortSignal): AsyncGenerator<string> {
    for (let attempt = 1; ; attempt++) {
      const response = await this.open(messages, signal, attempt);
      if (response) {
        yield* this.read(response, signal);
        return;
      }
      await sleepUnlessAborted(reconnectDelay(attempt + 2), signal);
    }
  }

  /** The streaming response, or undefined when this attempt should be retried. */
  private async open(
    messages: ChatTurn[],
    signal: AbortSignal,
    attempt: number,
  ): Promise<Response | undefined> {
    // Bounds the wait for response headers only: once streaming, the idle timeout takes over.
    const headersDeadline = new AbortController();
    const timer = setTimeout(() => headersDeadline.abort(), this.config.connectTimeoutMs);
    let response: Response;
    try {
      response = await fetch(`${this.config.url}/api/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: this.config.model, messages, stream: true }),
        signal: AbortSignal.any([signal, headersDeadline.signal]),
      });
    } catch (error) {
      if (signal.aborted) throw new LlmError('INTERNAL', 'The answer was abandoned');
      if (headersDeadline.signal.aborted) {
        throw new LlmError(
          'LLM_UNAVAILABLE',
          `Ollama did not answer within ${this.config.connectTimeoutMs} ms`,
        );
      }
      if (attempt < MAX_ATTEMPTS) return undefined;
      throw new LlmError('LLM_UNAVAILABLE', `Ollama is unreachable (${describe(error)})`);
    } finally {
      clearTimeout(timer);
    }
    if (response.ok && response.body) return response;
    await response.body?.cancel();
    if (response.status === 503 && attempt < MAX_ATTEMPTS) return undefined;
    throw new LlmError('LLM_UNAVAILABLE', `Ollama answered ${response.status}`);
  }

  private async *read(response: Response, signal: AbortSignal): AsyncGenerator<string> {
    // Raw bytes and ONE idle timer refreshed per chunk: a decoding TransformStream and a timer, a promise
    // race and an abort listener per chunk cost more than the token they carry (docs/decisions/0015).
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let stalled: LlmError | undefined;
    const idle = setTimeout(() => {
      stalled = new LlmError(
        'LLM_UNAVAILABLE',
        `Ollama sent nothing for ${this.config.idleTimeoutMs} ms mid-answer`,
      );
      // Settles the pending read with `done`: the loop then reports `stalled`.
      reader.cancel().catch(() => undefined);
    }, this.config.idleTimeoutMs);
    let buffered = '';
    let produced = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read().catch((error: unknown) => {
          if (signal.aborted) throw new LlmError('INTERNAL', 'The answer was abandoned');
          throw new LlmError('LLM_UNAVAILABLE', `The Ollama stream broke (${describe(error)})`);
        });
        if (stalled) throw stalled;
        if (done)
          throw new LlmError('LLM_UNAVAILABLE', 'Ollama closed the stream before the answer was done');
        idle.refresh();
        buffered += decoder.decode(value, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          const chunk = parseChunk(line);
          if (chunk.error) throw new LlmError('LLM_UNAVAILABLE', `Ollama failed mid-answer: ${chunk.error}`);
          const text = chunk.message?.content ?? '';
          if (text) {
            const kept = utf8Prefix(text, MAX_ANSWER_BYTES - produced);
            produced += Buffer.byteLength(kept);
            if (kept) yield kept;
            if (kept.length < text.length) return; // the cap cut it: the answer ends here
          }
          if (chunk.done) return;
        }
      }
    } finally {
      clearTimeout(idle);
      // Stops the upstream request when we end early (error, abandon, length cap).
      await reader.cancel().catch(() => undefined);
    }
  }
}

function parseChunk(line: string): OllamaChunk {
  try {
    return JSON.parse(line) as OllamaChunk;
  } catch {
    throw new LlmError('LLM_UNAVAILABLE', 'Ollama sent a line that is not JSON');
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new LlmError('INTERNAL', 'The answer was abandoned'));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new LlmError('INTERNAL', 'The answer was abandoned'));
      },
      { once: true },
    );
  });
}
