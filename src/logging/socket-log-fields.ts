/** The part of a Socket.IO socket that log lines read: its id and the authenticated user's id. */
export interface LoggableSocket {
  id: string;
  data?: { user?: { id: string } };
}

/**
 * The ids every WebSocket log line carries as fields: `socketId`, and `userId` once the handshake is
 * authenticated. Never the token, never a message's content.
 */
export function socketLogFields(socket: LoggableSocket): { socketId: string; userId?: string } {
  return { socketId: socket.id, userId: socket.data?.user?.id };
}
