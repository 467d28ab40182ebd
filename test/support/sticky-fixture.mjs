// A stand-in for the service in the sticky routing tests: run directly it is the primary (the built
// `runPrimary` from dist/), forked by that primary (`isStickyWorker()`) it is a worker with a plain
// http.Server and a Socket.IO server that say which process served them, joined through
// `exitWhenPrimaryGoes` and `serveThroughPrimary` exactly as the real worker joins. Plain ESM so it
// runs without a compile step (`npm test` builds dist/ first).
//
// Environment: PORT, WORKERS, SHUTDOWN_GRACE_MS; STICKY_FIXTURE_MODE=crash-at-boot (workers exit 3 at
// once) or ignore-sigterm (workers never exit on SIGTERM).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { runPrimary } from '../../dist/cluster/primary.js';
import {
  exitWhenPrimaryGoes,
  isStickyWorker,
  serveThroughPrimary,
} from '../../dist/cluster/sticky-worker.js';

const mode = process.env.STICKY_FIXTURE_MODE ?? '';

async function worker() {
  // As src/main.ts does first in a worker: no orphan outlives its primary.
  exitWhenPrimaryGoes();
  if (mode === 'crash-at-boot') process.exit(3);
  const httpServer = createServer((req, res) => {
    if (req.url === '/pid')
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(String(process.pid));
    // A worker that fails mid-request: the primary must answer 502 and carry on.
    if (req.url === '/destroy') return req.socket.destroy();
    if (req.url === '/echo' && req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return req.pipe(res);
    }
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, { pingInterval: 2_000, pingTimeout: 2_000 });
  // Every answer names the process that produced it (set before Engine.IO or the routes write).
  httpServer.prependListener('request', (_req, res) => res.setHeader('x-worker-pid', String(process.pid)));
  io.on('connection', (socket) => {
    socket.emit('whoami', process.pid);
    socket.on('whoami', () => socket.emit('whoami', process.pid));
  });

  if (mode === 'ignore-sigterm') process.on('SIGTERM', () => undefined);
  else process.once('SIGTERM', () => io.close(() => process.exit(0)));

  await serveThroughPrimary(httpServer, io.engine);
}

async function primary() {
  await runPrimary({
    server: {
      nodeEnv: 'test',
      host: '127.0.0.1',
      port: Number(process.env.PORT),
      workers: Number(process.env.WORKERS ?? 4),
      shutdownGraceMs: Number(process.env.SHUTDOWN_GRACE_MS ?? 3_000),
    },
    // Read by the primary's own readiness answer while no worker listens.
    security: { corsOrigins: [] },
    redis: { enabled: false },
  });
}

(isStickyWorker() ? worker() : primary()).catch((error) => {
  console.error(`Fatal: ${error.message}`);
  process.exit(1);
});
