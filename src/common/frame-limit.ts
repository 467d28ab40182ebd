/**
 * Engine.IO frames (and polling bodies) above this are refused: 413 for a polling body, and the
 * connection closed for a WebSocket frame. Its own module so the primary reads it without loading
 * Socket.IO and Nest.
 */
export const MAX_FRAME_BYTES = 64 * 1024;
