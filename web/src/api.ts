// Sign-in against POST /api/dev/token, and the session kept in sessionStorage (per tab, survives reloads).
import type { Session } from './types.js';

const SESSION_KEY = 'chat-demo:session';

export type SignInResult =
  | { ok: true; session: Session }
  /** `pasteToken`: the server refused to mint tokens (production), so the page offers the paste field. */
  | { ok: false; status: number; message: string; pasteToken: boolean };

export async function fetchToken(name: string): Promise<SignInResult> {
  let response: Response;
  try {
    response = await fetch('/api/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
  } catch {
    return { ok: false, status: 0, message: 'The server cannot be reached.', pasteToken: false };
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (response.ok && typeof body.token === 'string' && typeof body.userId === 'string') {
    const session: Session = {
      token: body.token,
      userId: body.userId,
      name: typeof body.name === 'string' ? body.name : name,
      expiresAt: typeof body.expiresAt === 'number' ? body.expiresAt : 0,
      signInName: name,
    };
    return { ok: true, session };
  }
  // Refusals are `{ error: { code, message } }`, as on every API of the service.
  const refusal = body.error as { message?: unknown } | undefined;
  const serverMessage = typeof refusal?.message === 'string' ? refusal.message : '';
  if (response.status === 404) {
    return {
      ok: false,
      status: 404,
      message: 'The demo sign-in is turned off on this server.',
      pasteToken: true,
    };
  }
  return {
    ok: false,
    status: response.status,
    message: serverMessage || `Sign-in failed (HTTP ${response.status}).`,
    pasteToken: response.status === 403,
  };
}

/** Reads `sub`, `name` and `exp` from a pasted JWT; the server verifies the signature, the page only displays. */
export function sessionFromToken(token: string): Session | null {
  const payload = token.trim().split('.')[1];
  if (!payload) return null;
  try {
    const base64 = payload
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(payload.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (typeof claims.sub !== 'string' || claims.sub.length === 0) return null;
    return {
      token: token.trim(),
      userId: claims.sub,
      name: typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim() : claims.sub,
      expiresAt: typeof claims.exp === 'number' ? claims.exp : 0,
    };
  } catch {
    return null;
  }
}

export function loadSession(): Session | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    return stored && typeof stored.token === 'string' && typeof stored.userId === 'string' ? stored : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(SESSION_KEY);
}
