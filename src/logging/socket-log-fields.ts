/** The part of a Socket.IO socket that log lines read: its id and the authenticated user's id. */
export interface LoggableSocket {
  id: string;
  data?: { user?: { id: string } };
}

/** `socketId`, and `userId` once authenticated: never the token, never a message's content. */
export function socketLogFields(socket: LoggableSocket): { socketId: string; userId?: string } {
  return { socketId: socket.id, userId: socket.data?.user?.id };
}
