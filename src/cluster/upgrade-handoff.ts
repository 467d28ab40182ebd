import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { rawRequest } from './proxy-headers.js';
import type { UpgradeMessage } from './sticky-protocol.js';

/** Hands an upgrade's connection and request bytes to `child` over IPC; `failed` if it could not be sent. */
export function handOverUpgrade(
  child: ChildProcess,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  token: number | undefined,
  failed: () => void,
): void {
  // Until the worker has the handle, Node would keep reading this copy of the descriptor, losing what it
  // reads: pass on what is buffered (read() restarts reading, so only then), then stop kernel reads (0001).
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  if (buffered) head = Buffer.concat([head, buffered]);
  stopReading(socket);
  const message: UpgradeMessage = { type: 'sticky:upgrade', head: rawRequest(req, head), token };
  try {
    child.send(message, socket, { keepOpen: false }, (error) => {
      if (error) failed();
    });
  } catch {
    // The socket closed before it could be sent (no handle left to send).
    failed();
  }
}

/** Stops kernel reads (libuv `readStop`); `socket.pause()` only stops emitting. */
function stopReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
  if (!handle?.readStop) return;
  handle.reading = false;
  handle.readStop();
}
