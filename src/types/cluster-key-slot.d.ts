/** The Redis Cluster hash slot (0–16383) of a key or channel, hash tags honoured (ioredis's own helper). */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string): number;
}
