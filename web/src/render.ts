// Rendering: the conversation list and one conversation's messages. Elements are keyed and updated in
// place (not rebuilt), so a streaming answer does not reset scroll position or a focused Retry button.
import type { ConversationEntry } from './conversations.js';
import { el } from './dom.js';
import type { MessageStore, Pending } from './messages.js';
import type { Message } from './types.js';

export function renderConversationList(
  list: HTMLElement,
  entries: ConversationEntry[],
  activeId: string | null,
  select: (id: string) => void,
): void {
  list.replaceChildren(
    ...entries.map((entry) => {
      const button = el(
        'button',
        {
          type: 'button',
          class: 'conversation-button',
          'aria-current': entry.id === activeId ? 'true' : undefined,
        },
        el('span', { class: 'conversation-title' }, entry.title ?? 'Joined conversation'),
        el('span', { class: 'conversation-id' }, entry.id),
      );
      button.addEventListener('click', () => select(entry.id));
      return el('li', { 'data-testid': 'conversation', 'data-id': entry.id }, button);
    }),
  );
}

interface MessageModel {
  key: string;
  id: string;
  seq: string;
  role: string;
  status: string;
  clientId: string;
  author: string;
  content: string;
  sources: NonNullable<Message['sources']>;
  error: string;
  gap: boolean;
  own: boolean;
}

const STATUS_LABELS: Record<string, string> = {
  sending: 'sending…',
  unsent: 'failed to send',
  streaming: 'streaming…',
  failed: 'failed',
  cancelled: 'stopped',
  complete: '',
};

/** What a message's buttons do: resend an own unsent message, stop a streaming answer. */
export interface MessageActions {
  retry(clientId: string): void;
  stop(messageId: string): void;
}

/** Renders stored messages by seq, then own pending ones at the bottom, reusing elements by key. */
export function renderMessages(
  container: HTMLElement,
  store: MessageStore,
  userId: string,
  actions: MessageActions,
): void {
  const claimed = store.claimedPending(userId);
  const hidden = new Set(claimed.values());
  const models: MessageModel[] = store.sorted().map((m) => ({
    key: `m:${m.id}`,
    id: m.id,
    seq: String(m.seq),
    role: m.role,
    status: m.status,
    clientId: store.clientIdOf.get(m.id) ?? claimed.get(m.id) ?? '',
    author: m.authorId,
    content: store.displayContent(m),
    sources: m.sources ?? [],
    error: m.status === 'failed' ? (store.errorOf(m.id)?.message ?? 'The answer failed.') : '',
    gap: store.hasGap(m),
    own: m.role === 'user' && m.authorId === userId,
  }));
  for (const p of store.pending.values()) if (!hidden.has(p.clientId)) models.push(pendingModel(p, userId));

  const nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const existing = new Map<string, HTMLElement>();
  for (const child of container.children)
    existing.set((child as HTMLElement).dataset.key ?? '', child as HTMLElement);
  let previous: Element | null = null;
  for (const model of models) {
    let item = existing.get(model.key);
    existing.delete(model.key);
    if (!item) item = el('li', { 'data-testid': 'message', 'data-key': model.key });
    updateMessage(item, model, actions);
    const expectedPosition: Element | null = previous
      ? previous.nextElementSibling
      : container.firstElementChild;
    if (expectedPosition !== item) container.insertBefore(item, expectedPosition);
    previous = item;
  }
  for (const stale of existing.values()) stale.remove();
  if (nearBottom) container.scrollTop = container.scrollHeight;
}

function pendingModel(p: Pending, userId: string): MessageModel {
  return {
    key: `p:${p.clientId}`,
    id: '',
    seq: '',
    role: 'user',
    status: p.state,
    clientId: p.clientId,
    author: userId,
    content: p.content,
    sources: [],
    error: p.state === 'unsent' ? (p.error ?? '') : '',
    gap: false,
    own: true,
  };
}

function updateMessage(item: HTMLElement, model: MessageModel, actions: MessageActions): void {
  const signature = JSON.stringify(model);
  if (item.dataset.signature === signature) return;
  item.dataset.signature = signature;
  Object.assign(item.dataset, {
    id: model.id,
    seq: model.seq,
    role: model.role,
    status: model.status,
    clientId: model.clientId,
    author: model.author,
  });
  item.className = `message ${model.role === 'assistant' ? 'assistant' : model.own ? 'own' : 'other'}`;
  const label = STATUS_LABELS[model.status] ?? model.status;
  const meta = el(
    'div',
    { class: 'meta' },
    el('span', { class: 'author' }, model.own ? 'You' : model.author),
    model.seq ? el('span', { class: 'seq' }, `#${model.seq}`) : '',
    label ? el('span', { class: `status status-${model.status}` }, label) : '',
    model.gap ? el('span', { class: 'status' }, 'waiting for a missing part…') : '',
  );
  const parts: Node[] = [
    meta,
    el('div', { 'data-testid': 'message-content', class: 'content' }, model.content),
  ];
  if (model.sources.length > 0) {
    parts.push(
      el(
        'ol',
        { class: 'sources', 'aria-label': 'Sources' },
        ...model.sources.map((s) =>
          el(
            'li',
            { 'data-testid': 'source' },
            el('span', { class: 'source-title' }, s.title),
            el('span', { class: 'source-score' }, ` (${s.score.toFixed(2)})`),
            el('span', { class: 'source-snippet' }, s.snippet),
          ),
        ),
      ),
    );
  }
  if (model.status === 'failed') {
    parts.push(
      el('p', { 'data-testid': 'message-error', class: 'message-error', role: 'alert' }, model.error),
    );
  }
  if (model.status === 'unsent') {
    if (model.error) parts.push(el('p', { class: 'message-error' }, model.error));
    const button = el('button', { type: 'button', 'data-testid': 'retry', class: 'retry' }, 'Retry');
    button.addEventListener('click', () => actions.retry(model.clientId));
    parts.push(button);
  }
  if (model.role === 'assistant' && model.status === 'streaming' && model.id) {
    // Stops the model for everyone in the room, from whichever worker or pod generates it.
    const stop = el('button', { type: 'button', 'data-testid': 'stop', class: 'retry' }, 'Stop');
    stop.addEventListener('click', () => actions.stop(model.id));
    parts.push(stop);
  }
  if (model.clientId) parts.push(el('div', { class: 'client-id' }, `client id ${model.clientId}`));
  item.replaceChildren(...parts);
}
