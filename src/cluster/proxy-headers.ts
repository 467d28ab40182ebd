import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { pathOf } from '../common/plain-http.js';

/** Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus `expect`, answered here. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

export function isMetricsPath(url: string | undefined): boolean {
  return pathOf(url) === '/metrics';
}

/** The client's headers minus hop-by-hop ones, with the client's address appended to X-Forwarded-For. */
export function requestHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const named = connectionTokens(req.headers.connection);
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) headers[name] = value;
  }
  const client = req.socket.remoteAddress;
  if (client) {
    const previous = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = previous ? `${String(previous)}, ${client}` : client;
  }
  return headers;
}

/** The worker's response headers, raw (names and repeats as sent) minus hop-by-hop ones. */
export function responseHeaders(answer: IncomingMessage): string[] {
  const named = connectionTokens(answer.headers.connection);
  const kept: string[] = [];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    const name = answer.rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) kept.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
  }
  return kept;
}

function connectionTokens(header: IncomingHttpHeaders['connection']): Set<string> {
  return new Set((header ?? '').split(',').map((token) => token.trim().toLowerCase()));
}

/** The request as it came off the wire (line, headers, bytes read past them), for the worker to parse. */
export function rawRequest(req: IncomingMessage, head: Buffer): string {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  // Header bytes were decoded as latin1 by the parser: encoding back as latin1 restores them exactly.
  return Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]).toString('base64');
}
