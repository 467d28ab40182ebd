// Shows "indexing…" in a conversation from another process (a job, a worker of another service) with
// @socket.io/redis-emitter: an ephemeral event, sent to every socket in the room on every worker and
// instance, stored nowhere. For a message that must be kept and synced, POST it to the HTTP API instead.
//
//   REDIS_URL=redis://127.0.0.1:6379 REDIS_KEY_PREFIX=socketio \
//     node examples/redis-emitter/emit-status.mjs <conversationId> "indexing 3 documents…"
//
// Works with REDIS_MODE standalone and sentinel (the emitter speaks the classic adapter's channels); in
// cluster mode (sharded pub/sub) use the HTTP API.
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';

const [conversationId, text = 'indexing…'] = process.argv.slice(2);
if (!conversationId) {
  console.error('usage: node examples/redis-emitter/emit-status.mjs <conversationId> [text]');
  process.exit(1);
}
const prefix = process.env.REDIS_KEY_PREFIX ?? 'socketio';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

// The service's adapter key is `<REDIS_KEY_PREFIX>:socket.io`; chat sockets live in namespace /chat and
// each conversation's sockets in the room `conversation:<id>`.
const emitter = new Emitter(redis, { key: `${prefix}:socket.io` }).of('/chat');
emitter.to(`conversation:${conversationId}`).emit('conversation:status', { conversationId, text });

// PUBLISH is sent once the connection is up; QUIT waits for it to be written.
await redis.quit();
