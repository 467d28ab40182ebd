// Entry point: the sign-in form, the chat view's forms and composer, and rendering the active state.
import { clearSession, fetchToken, loadSession, saveSession, sessionFromToken } from './api.js';
import { Chat, MAX_CONTENT } from './chat.js';
import { renderSignedOut } from './connection.js';
import { membersText } from './conversations.js';
import { byTestId, show } from './dom.js';
import { renderConversationList, renderMessages } from './render.js';
import type { Session } from './types.js';

const params = new URLSearchParams(location.search);
const forced = params.get('transport');
const transports: ('polling' | 'websocket')[] | undefined =
  forced === 'polling' || forced === 'websocket' ? [forced] : undefined;
const requestedLimit = Number(params.get('syncLimit') ?? '100');
const syncLimit = Number.isInteger(requestedLimit) ? Math.min(200, Math.max(1, requestedLimit)) : 100;

const $ = {
  signinView: document.getElementById('signin-view') as HTMLElement,
  chatView: document.getElementById('chat-view') as HTMLElement,
  signinForm: document.getElementById('signin-form') as HTMLFormElement,
  signinName: byTestId<HTMLInputElement>('signin-name'),
  signinError: byTestId('signin-error'),
  tokenForm: document.getElementById('token-form') as HTMLFormElement,
  tokenInput: byTestId<HTMLInputElement>('token-input'),
  user: document.getElementById('user') as HTMLElement,
  signedInAs: byTestId('signed-in-as'),
  signout: byTestId<HTMLButtonElement>('signout'),
  banner: byTestId('connection'),
  createForm: document.getElementById('create-form') as HTMLFormElement,
  newTitle: byTestId<HTMLInputElement>('new-title'),
  newMembers: byTestId<HTMLInputElement>('new-members'),
  joinForm: document.getElementById('join-form') as HTMLFormElement,
  joinId: byTestId<HTMLInputElement>('join-id'),
  list: document.getElementById('conversation-list') as HTMLElement,
  active: byTestId('active-conversation'),
  members: byTestId('members'),
  messages: document.getElementById('messages') as HTMLElement,
  typing: byTestId('typing'),
  notice: byTestId('notice'),
  composerForm: document.getElementById('composer-form') as HTMLFormElement,
  composer: byTestId<HTMLTextAreaElement>('composer'),
  counter: document.getElementById('counter') as HTMLElement,
};

let chat: Chat | null = null;
let renderQueued = false;

/** Batches the many state changes of one task (a burst of deltas) into one render. */
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    render();
  });
}

function render(): void {
  if (!chat) return;
  const { activeId, conversations, session } = chat;
  renderConversationList($.list, conversations.list(), activeId, (id) => void chat?.openConversation(id));
  const entry = activeId ? conversations.get(activeId) : undefined;
  $.active.dataset.id = activeId ?? '';
  $.active.textContent = entry
    ? `${entry.title ?? 'Joined conversation'} · ${entry.id}`
    : 'No conversation open';
  $.members.textContent = entry ? membersText(entry) : '';
  $.typing.textContent = activeId ? chat.typing.text(activeId) : '';
  $.composer.disabled = !activeId;
  if (activeId)
    renderMessages($.messages, chat.store(activeId), session.userId, {
      retry: (id) => chat?.retry(id),
      stop: (id) => chat?.stop(id),
    });
  else $.messages.replaceChildren();
}

function notice(message: string): void {
  $.notice.textContent = message;
}

function start(session: Session): void {
  saveSession(session);
  $.signinError.textContent = '';
  notice('');
  $.signedInAs.textContent = `Signed in as ${session.name} (${session.userId})`;
  show($.signinView, false);
  show($.chatView, true);
  show($.user, true);
  chat = new Chat(
    session,
    { render: scheduleRender, notice, authLost: (message) => stop(message), banner: $.banner },
    { transports, syncLimit },
  );
  const hashId = decodeURIComponent(location.hash.slice(1));
  if (hashId) void chat.openConversation(hashId);
  render();
}

/** Signs out: closes the socket and forgets the session; `message` explains a forced sign-out. */
function stop(message = ''): void {
  chat?.close();
  chat = null;
  clearSession();
  renderSignedOut($.banner);
  $.signedInAs.textContent = '';
  $.messages.replaceChildren();
  show($.chatView, false);
  show($.user, false);
  show($.signinView, true);
  $.signinError.textContent = message;
  if (message) show($.tokenForm, true);
  $.signinName.focus();
}

$.signinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $.signinName.value.trim();
  if (!name) return void ($.signinError.textContent = 'Enter a name.');
  $.signinError.textContent = 'Signing in…';
  void fetchToken(name).then((result) => {
    if (result.ok) return start(result.session);
    $.signinError.textContent = result.message;
    if (result.pasteToken) show($.tokenForm, true);
  });
});

$.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const session = sessionFromToken($.tokenInput.value);
  if (!session) return void ($.signinError.textContent = 'That is not a readable token.');
  $.tokenInput.value = '';
  start(session);
});

$.signout.addEventListener('click', () => stop());

$.createForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const members = $.newMembers.value.split(',').map((id) => id.trim());
  const memberIds = [...new Set(members.filter((id) => id && id !== chat?.session.userId))];
  void chat?.create($.newTitle.value.trim(), memberIds).then(() => {
    $.newTitle.value = '';
    $.newMembers.value = '';
  });
});

$.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const id = $.joinId.value.trim();
  if (!id || !chat) return;
  $.joinId.value = '';
  void chat.openConversation(id);
});

window.addEventListener('hashchange', () => {
  const id = decodeURIComponent(location.hash.slice(1));
  if (chat && id && id !== chat.activeId) void chat.openConversation(id);
});

function updateCounter(): void {
  const length = $.composer.value.trim().length;
  $.counter.textContent = `${length} / ${MAX_CONTENT}`;
  $.counter.classList.toggle('over', length > MAX_CONTENT);
}

function sendComposer(): void {
  if (chat?.send($.composer.value)) $.composer.value = '';
  updateCounter();
}

$.composer.addEventListener('input', () => {
  updateCounter();
  if (chat?.activeId) chat.typingSender.input(chat.activeId, $.composer.value.trim().length > 0);
});

$.composer.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendComposer();
  }
});

$.composerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sendComposer();
});

const stored = loadSession();
if (stored) start(stored);
else stop();
updateCounter();
