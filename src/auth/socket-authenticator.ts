import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AuthUser } from './auth-user.js';

interface ChatClaims {
  sub?: unknown;
  name?: unknown;
  exp?: unknown;
}

class AuthenticationError extends Error {}

/** Verifies handshake tokens: HS256 only (no `alg: none`, no RS/HS confusion), with `sub` and `exp`. */
@Injectable()
export class SocketAuthenticator {
  constructor(private readonly jwt: JwtService) {}

  verify(token: unknown): { user: AuthUser; expiresAt: number } {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new AuthenticationError('missing token');
    }
    let claims: ChatClaims;
    try {
      claims = this.jwt.verify<ChatClaims & object>(token, { algorithms: ['HS256'] });
    } catch (error) {
      throw new AuthenticationError((error as Error).message);
    }
    const { sub, name, exp } = claims;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128)
      throw new AuthenticationError('bad sub');
    if (typeof exp !== 'number') throw new AuthenticationError('no exp');
    const displayName = typeof name === 'string' && name.trim().length > 0 ? name.trim().slice(0, 100) : sub;
    return { user: { id: sub, name: displayName }, expiresAt: exp };
  }
}
