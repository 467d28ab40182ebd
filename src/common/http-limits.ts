import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';

/** A request whose headers have not all arrived by then is answered 408 and closed (the contract's bound). */
const HEADERS_TIMEOUT_MS = 15_000;
/** From a request's first byte until its body is received (a waiting long-poll is never cut). */
const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node enforces both timeouts; its 30 s default would let a half-sent request live 45 s. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** Descriptors kept for everything but client connections (stdio, IPC, listeners, clients, files). */
function reservedDescriptors(fileLimit: number): number {
  return Math.max(256, Math.ceil(fileLimit * 0.05));
}

/** The soft open-file limit from /proc/self/limits (Node has no API); undefined off Linux or unlimited. */
function openFileLimit(limits = readProcLimits()): number | undefined {
  const match = /^Max open files\s+(\d+)/m.exec(limits ?? '');
  return match ? Number(match[1]) : undefined;
}

function readProcLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined; // not Linux: no clamping
  }
}

interface DescriptorCost {
  /** Descriptors one client connection holds: 1, or 2 for a proxy (the client's and the upstream one). */
  perConnection: number;
  /** Descriptors held regardless of clients (a proxy's idle upstream pool). */
  fixed?: number;
}

/** `requested`, lowered (warned once) to fit the descriptor limit: running out fails every accept. */
export function connectionCap(
  requested: number | undefined,
  cost: DescriptorCost,
  fileLimit = openFileLimit(),
  logger = new Logger('HttpLimits'),
): number {
  if (fileLimit === undefined) return requested ?? Infinity;
  const available = fileLimit - reservedDescriptors(fileLimit) - (cost.fixed ?? 0);
  const allowed = Math.max(1, Math.floor(available / cost.perConnection));
  if (requested === undefined) return allowed;
  if (requested <= allowed) return requested;
  logger.warn(
    `MAX_HTTP_CONNECTIONS=${requested} does not fit the open-file limit (${fileLimit}); using ${allowed}. ` +
      'Raise `ulimit -n` (LimitNOFILE, the container runtime) to allow more.',
  );
  return allowed;
}

/** How often a full connection cap is reported at most: each dropped connection would flood the log. */
const DROP_REPORT_INTERVAL_MS = 60_000;

/** Bounds a client connection's cost (header and body timeouts, `maxConnections`). Call before `listen()`. */
export function limitClientConnections(server: Server, maxConnections: number, logger?: Logger): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  // A createServer option; Node reads the property when listening starts (setupConnectionsTracking).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    TIMEOUT_CHECK_INTERVAL_MS;
  server.maxConnections = maxConnections;
  if (!logger) return;
  let dropped = 0;
  server.on('drop', () => {
    if (dropped++ > 0) return;
    logger.warn(`${maxConnections} client connections are open (MAX_HTTP_CONNECTIONS): closing new ones`);
    setTimeout(() => {
      if (dropped > 1)
        logger.warn(`Connection cap: ${dropped} connections closed on arrival in the last minute`);
      dropped = 0;
    }, DROP_REPORT_INTERVAL_MS).unref();
  });
}
