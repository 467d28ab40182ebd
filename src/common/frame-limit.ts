/**
 * Engine.IO frames and polling bodies above this are refused. Its own module, so the primary reads it
 * without loading Socket.IO and Nest.
 */
export const MAX_FRAME_BYTES = 64 * 1024;
