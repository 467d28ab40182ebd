import type { IncomingMessage, ServerResponse } from 'node:http';

// Answers given by a process without the Nest app: the primary, and the probe port of either process.

export function pathOf(url: string | undefined): string | undefined {
  return url?.split('?', 1)[0];
}

/** GET or HEAD of `path` (Express, which the workers run, ignores a trailing slash: so does this). */
export function isRead(req: IncomingMessage, path: string): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && pathOf(req.url)?.replace(/\/$/, '') === path;
}

/** A JSON answer, without its body for HEAD. */
export function answerJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
    .end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
}
