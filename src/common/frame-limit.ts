/** Engine.IO frames and polling bodies above this are refused. Own module: the primary loads no Socket.IO. */
export const MAX_FRAME_BYTES = 64 * 1024;
