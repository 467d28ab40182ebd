import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ChatAuthenticator, type VerifiedToken } from 'nest-chat-redis';
import { IDENTITY_OPTIONS, type IdentityOptions } from './identity.module.js';

/**
 * Handshake tokens from this application's identity provider: RS256/ES256 JWTs checked against its
 * JWKS (fetched once, refreshed when an unknown key id shows up), its issuer and audience.
 */
@Injectable()
export class JwksAuthenticator extends ChatAuthenticator {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(@Inject(IDENTITY_OPTIONS) private readonly identity: IdentityOptions) {
    super();
    this.keys = createRemoteJWKSet(identity.jwksUrl);
  }

  async verify(token: unknown): Promise<VerifiedToken> {
    if (typeof token !== 'string') throw new Error('no token');
    const { payload } = await jwtVerify(token, this.keys, {
      issuer: this.identity.issuer,
      audience: this.identity.audience,
      algorithms: ['RS256', 'ES256'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number')
      throw new Error('sub and exp required');
    const name = typeof payload.name === 'string' ? payload.name : payload.sub;
    return { user: { id: payload.sub, name }, expiresAt: payload.exp };
  }
}
