import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AuthUser } from './auth-user.js';
import { ChatAuthenticator, type VerifiedToken } from './chat-authenticator.js';

interface ChatClaims {
  sub?: unknown;
  name?: unknown;
  exp?: unknown;
  scope?: unknown;
}

export class AuthenticationError extends Error {}

/** A valid token without `"scope": "service"`: a user's, which may not act as a service. */
export class NotAServiceTokenError extends Error {}

/** Verifies handshake tokens: HS256 only (no `alg: none`, no RS/HS confusion), with `sub` and `exp`. */
@Injectable()
export class SocketAuthenticator extends ChatAuthenticator {
  constructor(private readonly jwt: JwtService) {
    super();
  }

  /** A service's token (HTTP API): valid as any token, and carrying `"scope": "service"`. */
  verifyService(token: unknown): { serviceId: string } {
    const { user, scope } = this.verifyClaims(token);
    if (scope !== 'service') throw new NotAServiceTokenError('not a service token');
    return { serviceId: user.id };
  }

  verify(token: unknown): VerifiedToken {
    const { user, expiresAt } = this.verifyClaims(token);
    return { user, expiresAt };
  }

  private verifyClaims(token: unknown): { user: AuthUser; expiresAt: number; scope: unknown } {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new AuthenticationError('missing token');
    }
    let claims: ChatClaims;
    try {
      claims = this.jwt.verify<ChatClaims & object>(token, { algorithms: ['HS256'] });
    } catch (error) {
      throw new AuthenticationError((error as Error).message);
    }
    const { sub, name, exp, scope } = claims;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128)
      throw new AuthenticationError('bad sub');
    if (typeof exp !== 'number') throw new AuthenticationError('no exp');
    const displayName = typeof name === 'string' && name.trim().length > 0 ? name.trim().slice(0, 100) : sub;
    return { user: { id: sub, name: displayName }, expiresAt: exp, scope };
  }
}
