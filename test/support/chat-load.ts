import { connectChat, request, tokenFor, type ChatClient } from './chat-client.js';
import { sleep } from './ports.js';

interface Ack {
  ok: boolean;
  message?: { id: string; seq: number };
  error?: { code: string };
}

export interface LoadClient {
  userId: string;
  socket: ChatClient;
  conversationId: string;
  /** Epoch ms of each acknowledged send, with when that attempt began. */
  acks: { clientMessageId: string; id: string; sentAt: number; ackedAt: number }[];
  failures: number;
}

export interface LoadOptions {
  /** Clients are spread over these (instances, or one service). */
  baseUrls: string[];
  clients: number;
  roomSize: number;
  /** Each client sends one message per interval (jittered), retrying a failed one with the same id. */
  sendIntervalMs: number;
  userPrefix: string;
}

/**
 * Clients chatting in rooms as real ones do through a fault: reconnecting on their own, joining their
 * room again on every reconnect, and resending an unacknowledged message with the same
 * clientMessageId until it is acknowledged. Records every acknowledgement for the checks afterwards.
 */
export class ChatLoad {
  private sending = false;
  private loops: Promise<void>[] = [];

  private constructor(readonly clients: LoadClient[]) {}

  static async start(options: LoadOptions): Promise<ChatLoad> {
    const reconnecting = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 2000 };
    const sockets: ChatClient[] = [];
    for (let i = 0; i < options.clients; i += 50) {
      const batch = Array.from({ length: Math.min(50, options.clients - i) }, (_, j) => {
        const index = i + j;
        const baseUrl = options.baseUrls[index % options.baseUrls.length];
        return connectChat(baseUrl, tokenFor(`${options.userPrefix}-${index}`), reconnecting);
      });
      sockets.push(...(await Promise.all(batch)));
    }
    const clients: LoadClient[] = [];
    for (let first = 0; first < sockets.length; first += options.roomSize) {
      const members = sockets.slice(first, first + options.roomSize);
      const memberIds = members.map((_, k) => `${options.userPrefix}-${first + k}`);
      const created = await request<{ conversation: { id: string } }>(members[0], 'conversation:create', {
        memberIds: memberIds.slice(1),
      });
      for (const [k, socket] of members.entries()) {
        const client: LoadClient = {
          userId: memberIds[k],
          socket,
          conversationId: created.conversation.id,
          acks: [],
          failures: 0,
        };
        await request(socket, 'conversation:join', { conversationId: client.conversationId });
        // A new server-side socket is in no room: join again after every reconnect.
        socket.io.on('reconnect', () => {
          void request(socket, 'conversation:join', { conversationId: client.conversationId }, 10_000).catch(
            () => undefined,
          );
        });
        clients.push(client);
      }
    }
    return new ChatLoad(clients);
  }

  startSending(intervalMs: number): void {
    this.sending = true;
    this.loops = this.clients.map((client, index) => this.sendLoop(client, index, intervalMs));
  }

  async stopSending(): Promise<void> {
    this.sending = false;
    await Promise.all(this.loops);
  }

  private async sendLoop(client: LoadClient, index: number, intervalMs: number): Promise<void> {
    await sleep((index * 37) % intervalMs);
    for (let n = 0; this.sending; n++) {
      const clientMessageId = `${client.userId}-${n}`;
      // Until acknowledged: a real client resends with the same id, and the server stores it once.
      for (;;) {
        const sentAt = Date.now();
        const ack = await request<Ack>(
          client.socket,
          'message:send',
          { conversationId: client.conversationId, content: `m ${clientMessageId}`, clientMessageId },
          5000,
        ).catch(() => undefined);
        if (ack?.ok && ack.message) {
          client.acks.push({ clientMessageId, id: ack.message.id, sentAt, ackedAt: Date.now() });
          break;
        }
        client.failures++;
        if (!this.sending) return;
        await sleep(500);
      }
      await sleep(intervalMs * (0.75 + Math.random() / 2));
    }
  }

  /** Acknowledged messages missing from their conversation's history, and ids stored more than once. */
  async verify(): Promise<{ acked: number; missing: string[]; duplicates: string[] }> {
    const missing: string[] = [];
    const duplicates: string[] = [];
    let acked = 0;
    const byRoom = new Map<string, LoadClient[]>();
    for (const client of this.clients)
      byRoom.set(client.conversationId, [...(byRoom.get(client.conversationId) ?? []), client]);
    for (const [conversationId, members] of byRoom) {
      const stored = await syncAll(members[0].socket, conversationId);
      const counts = new Map<string, number>();
      for (const message of stored) counts.set(message.content, (counts.get(message.content) ?? 0) + 1);
      for (const [content, count] of counts) if (count > 1) duplicates.push(content);
      const ids = new Set(stored.map((message) => message.id));
      for (const member of members)
        for (const ack of member.acks) {
          acked++;
          if (!ids.has(ack.id)) missing.push(ack.clientMessageId);
        }
    }
    return { acked, missing, duplicates };
  }

  close(): void {
    for (const client of this.clients) client.socket.close();
  }
}

async function syncAll(
  socket: ChatClient,
  conversationId: string,
): Promise<{ id: string; seq: number; content: string }[]> {
  const all: { id: string; seq: number; content: string }[] = [];
  for (let afterSeq = 0; ;) {
    const page = await request<{
      messages: { id: string; seq: number; content: string }[];
      hasMore: boolean;
    }>(socket, 'conversation:sync', { conversationId, afterSeq, limit: 200 }, 10_000);
    all.push(...page.messages);
    if (!page.hasMore || page.messages.length === 0) return all;
    afterSeq = page.messages.at(-1)!.seq;
  }
}
