import { Module } from '@nestjs/common';

/** Where this application's identity provider publishes its keys, and what its tokens must say. */
export interface IdentityOptions {
  jwksUrl: URL;
  issuer: string;
  audience: string;
}

export const IDENTITY_OPTIONS = Symbol('IDENTITY_OPTIONS');

/** The host application's own module: the chat's authenticator injects what it provides. */
@Module({
  providers: [
    {
      provide: IDENTITY_OPTIONS,
      useFactory: (): IdentityOptions => ({
        jwksUrl: new URL(process.env.JWKS_URL ?? 'http://127.0.0.1:8081/.well-known/jwks.json'),
        issuer: process.env.JWT_ISSUER ?? 'https://id.example.com',
        audience: process.env.JWT_AUDIENCE ?? 'chat',
      }),
    },
  ],
  exports: [IDENTITY_OPTIONS],
})
export class IdentityModule {}
