import { type Server, createServer } from 'node:http';
import { Logger } from '@nestjs/common';
import { limitClientConnections } from './http-limits.js';
import { answerJson, isRead } from './plain-http.js';

/** Probes come one at a time from the kubelet; more connections than this are closed as they arrive. */
const PROBE_MAX_CONNECTIONS = 32;

/** Liveness on PROBE_PORT, outside PORT's connection cap; run by the process owning PORT. */
export async function startProbeServer(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (isRead(req, '/api/health')) return answerJson(req, res, 200, { status: 'ok' });
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
  });
  limitClientConnections(server, PROBE_MAX_CONNECTIONS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const logger = new Logger('ProbeServer');
  server.on('error', (error) => logger.error(`Probe server error: ${error.message}`));
  logger.log(`Liveness on http://${host}:${port}/api/health`);
  return server;
}

/** Stops the probe port and its open connections, so it never holds the process at exit. */
export function closeProbeServer(server: Server | undefined): void {
  if (!server) return;
  server.close();
  server.closeAllConnections();
}
