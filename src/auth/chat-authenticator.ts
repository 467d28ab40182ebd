import type { AuthUser } from './auth-user.js';

export interface VerifiedToken {
  user: AuthUser;
  /** Epoch seconds: the socket is disconnected then, and the client reconnects with a fresh token. */
  expiresAt: number;
}

/**
 * Who a handshake's `auth.token` says the socket is. The default verifies the installation's HS256
 * JWTs (SocketAuthenticator); an application that imports ChatModule brings its own (a JWKS verifier,
 * a session lookup) with `authenticator`. Any throw or rejection refuses the connection as `unauthorized`.
 */
export abstract class ChatAuthenticator {
  abstract verify(token: unknown): VerifiedToken | Promise<VerifiedToken>;
}
