// The benchmark's fake Ollama (run.mjs starts it for `--scenario answers`): a real HTTP server speaking
// the parts of Ollama's API the service uses, like test/support/fake-ollama.ts, in plain JavaScript.
//
//   GET  /api/version   {"version":"0.12.0-fake"}
//   GET  /api/tags      one model
//   POST /api/chat      streaming NDJSON: --tokens lines {"model","created_at","message":{"role":
//                       "assistant","content":TOKEN},"done":false}, then {"done":true,...}; with
//                       --token-delay-ms 0 (the default) every line is written at once: full speed
//   POST /bench/reset   forgets what it measured (after the bench's warm-up round)
//   GET  /bench/stats   what it measured itself, one record per /api/chat request (see `record` below)
//
//   node bench/fake-ollama.mjs --port 11434 [--host 127.0.0.1] [--tokens 200] [--token-delay-ms 0]
//
// Its own time to first token is measured per request, from the moment the request reaches the handler
// to the moment the first token line is handed to the socket, so the bench can subtract it from what
// the clients see. Times are wall-clock (performance.timeOrigin + performance.now()), comparable with
// the load generators' on the same machine.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { answerTokens, wallNow } from './lib.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    tokens: { type: 'string', default: '200' },
    'token-delay-ms': { type: 'string', default: '0' },
  },
});
const port = Number(values.port);
const tokenCount = Number(values.tokens);
const tokenDelayMs = Number(values['token-delay-ms']);
if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error('--port must be 1 to 65535');
if (!Number.isInteger(tokenCount) || tokenCount < 1 || tokenCount > 100_000)
  throw new Error('--tokens must be an integer from 1 to 100000');
if (!Number.isFinite(tokenDelayMs) || tokenDelayMs < 0) throw new Error('--token-delay-ms must be >= 0');

const TOKENS = answerTokens(tokenCount);
/** Records kept; beyond it requests are still answered, but no longer recorded (and `dropped` counts). */
const MAX_RECORDS = 100_000;
/** `bench-answer <client> <n> ...`: the question of answer n of client `client` (see load-generator.mjs). */
const TAG = /^bench-answer (\d+) (\d+)\b/;
/** Request bodies larger than this are refused (the service sends a prompt of a few KiB). */
const MAX_BODY = 4 * 1024 * 1024;

const records = [];
let dropped = 0;
let otherRequests = 0;

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
}

/** The `bench-answer <client> <n>` tag of the last user message of an /api/chat body, or undefined. */
function tagOf(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role !== 'user') continue;
    const match = TAG.exec(String(messages[i].content ?? ''));
    return match ? `${match[1]}:${match[2]}` : undefined;
  }
  return undefined;
}

async function chat(req, res, receivedAt) {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > MAX_BODY) return json(res, 413, { error: 'request too large' });
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return json(res, 400, { error: 'invalid JSON' });
  }
  const record = {
    tag: tagOf(body),
    messages: Array.isArray(body?.messages) ? body.messages.length : 0,
    promptChars: raw.length,
    receivedAt, // the request reached the handler (headers parsed)
    bodyAt: wallNow(), // its body read and parsed
    firstTokenAt: undefined, // the first token line handed to the socket
    endAt: undefined, // the final line written and the response ended
    tokens: 0,
    closedEarly: false, // the client went away before the answer was done
  };
  if (records.length < MAX_RECORDS) records.push(record);
  else dropped++;
  const model = body?.model ?? 'llama3.2';
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  for (const token of TOKENS) {
    if (tokenDelayMs > 0) await sleep(tokenDelayMs);
    if (res.destroyed) {
      record.closedEarly = true;
      return;
    }
    if (record.tokens === 0) record.firstTokenAt = wallNow();
    res.write(
      `${JSON.stringify({
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: token },
        done: false,
      })}\n`,
    );
    record.tokens++;
  }
  res.end(
    `${JSON.stringify({
      model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      eval_count: TOKENS.length,
    })}\n`,
  );
  record.endAt = wallNow();
}

const server = http.createServer((req, res) => {
  const receivedAt = wallNow();
  if (req.method === 'POST' && req.url === '/api/chat') {
    chat(req, res, receivedAt).catch((error) => {
      console.error(`fake-ollama: /api/chat failed: ${error.message}`);
      res.destroy();
    });
    return;
  }
  otherRequests++;
  if (req.method === 'GET' && req.url === '/api/version') return json(res, 200, { version: '0.12.0-fake' });
  if (req.method === 'GET' && req.url === '/api/tags')
    return json(res, 200, { models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest', size: 1 }] });
  if (req.method === 'POST' && req.url === '/bench/reset') {
    records.length = 0;
    dropped = 0;
    otherRequests = 0;
    return json(res, 200, { ok: true });
  }
  if (req.method === 'GET' && req.url === '/bench/stats')
    return json(res, 200, { tokens: TOKENS.length, tokenDelayMs, records, dropped, otherRequests });
  json(res, 404, { error: 'not found' });
});
// Many answers at once on few connections: never let Node's defaults cut a slow reader.
server.requestTimeout = 0;
server.keepAliveTimeout = 60_000;
server.listen(port, values.host, () =>
  console.log(`fake-ollama on ${values.host}:${port}: ${TOKENS.length} tokens per answer`),
);

// Started by run.mjs in a process group of its own: go quietly when told to.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
