// The same worker as sticky-fixture.mjs, routed by @socket.io/sticky (node:cluster) instead of
// runPrimary: the sticky routing tests run their keep-alive scenario against it to show the
// scenario can fail. Environment: PORT, WORKERS.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import sticky from '@socket.io/sticky';
import { Server } from 'socket.io';

if (cluster.isPrimary) {
  // As @socket.io/sticky's README asks: its IPC messages carry Buffers.
  cluster.setupPrimary({ serialization: 'advanced' });
  const httpServer = createServer();
  sticky.setupPrimary(httpServer, { loadBalancingMethod: 'least-connection' });
  httpServer.listen(Number(process.env.PORT), '127.0.0.1', () =>
    console.log(`Legacy primary ${process.pid} listening`),
  );
  for (let i = 0; i < Number(process.env.WORKERS ?? 2); i++) cluster.fork();
  process.once('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(0);
  });
} else {
  const httpServer = createServer((req, res) => {
    if (req.url === '/pid') return res.writeHead(200).end(String(process.pid));
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, { pingInterval: 2_000, pingTimeout: 2_000 });
  httpServer.prependListener('request', (_req, res) => res.setHeader('x-worker-pid', String(process.pid)));
  io.on('connection', (socket) => {
    socket.emit('whoami', process.pid);
    socket.on('whoami', () => socket.emit('whoami', process.pid));
  });
  sticky.setupWorker(io);
  console.log(`Worker ${process.pid} ready`);
}
