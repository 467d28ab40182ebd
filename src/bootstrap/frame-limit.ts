/**
 * The Engine.IO frame limit (redis-io.adapter.ts's MAX_FRAME_BYTES, 64 KiB), for the primary, which must
 * not load Socket.IO and Nest just to read one number (that import costs it ~50 MB). frame-limit.spec.ts
 * keeps the two equal.
 */
export const PRIMARY_MAX_FRAME_BYTES = 64 * 1024;
