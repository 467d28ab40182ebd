import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from './ports.js';

/** `ok`: answers normally. `hang`: accepts requests, never answers. `busy`: 503 as when Ollama's queue is full. */
export type FakeOllamaMode = 'ok' | 'hang' | 'busy';

export interface ChatScript {
  /** Tokens streamed as `message.content` pieces. */
  tokens: string[];
  /** Pause before each token. */
  tokenDelayMs?: number;
  /** After this many tokens, send an `{"error": ...}` line inside the 200 stream and end it. */
  errorAfter?: number;
  /** After this many tokens, stop sending but keep the response open. */
  hangAfter?: number;
}

/**
 * A real HTTP server speaking the parts of Ollama's API the service uses: `GET /api/version`,
 * `GET /api/tags`, and streaming NDJSON `POST /api/chat`. Switches make it hang, answer busy, or go
 * down entirely (`stop`: connections refused) and come back (`start`) on the same port.
 */
export class FakeOllama {
  mode: FakeOllamaMode = 'ok';
  script: ChatScript = { tokens: ['Hello', ' from', ' the', ' fake', ' Ollama', '.'] };
  /** Bodies of every `/api/chat` request, for assertions on the prompt. */
  readonly chatRequests: unknown[] = [];
  /** When each `/api/chat` response was closed by the client before its end (epoch ms): a stopped answer. */
  readonly abandoned: number[] = [];
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly port: number) {}

  static async start(): Promise<FakeOllama> {
    const fake = new FakeOllama(await freePort());
    await fake.start();
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  /** Goes down: stops listening and cuts every open connection (hanging ones too). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.mode === 'hang') return;
    if (this.mode === 'busy')
      return this.json(res, 503, {
        error: 'server busy, please try again. maximum pending requests exceeded',
      });
    if (req.method === 'GET' && req.url === '/api/version')
      return this.json(res, 200, { version: '0.12.0-fake' });
    if (req.method === 'GET' && req.url === '/api/tags') {
      return this.json(res, 200, {
        models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest', size: 1 }],
      });
    }
    if (req.method === 'POST' && req.url === '/api/chat') return this.chat(req, res);
    this.json(res, 404, { error: 'not found' });
  }

  private async chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw) as { model?: string };
    this.chatRequests.push(body);
    const { tokens, tokenDelayMs = 0, errorAfter, hangAfter } = this.script;
    const model = body.model ?? 'llama3.2';
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    res.once('close', () => {
      if (!res.writableEnded) this.abandoned.push(Date.now());
    });
    const line = (value: unknown) => res.write(`${JSON.stringify(value)}\n`);
    for (const [index, token] of tokens.entries()) {
      if (index === errorAfter) {
        line({ error: 'model runner has unexpectedly stopped' });
        return void res.end();
      }
      if (index === hangAfter) return;
      if (tokenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, tokenDelayMs));
      if (res.destroyed) return;
      line({
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: token },
        done: false,
      });
    }
    line({
      model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      eval_count: tokens.length,
    });
    res.end();
  }

  private json(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
  }
}
