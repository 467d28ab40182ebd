import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Header,
  HttpCode,
  Post,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config.js';

/** How long a development token lives; the page signs in again when the server disconnects it. */
const DEV_TOKEN_TTL_SECONDS = 3600;
const MAX_NAME_LENGTH = 100;

export interface DevToken {
  token: string;
  userId: string;
  name: string;
  /** Epoch seconds. */
  expiresAt: number;
}

/** The user id for a display name: lower case, letters and digits of any script, runs of others as `-`. */
export function userIdFor(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}

/**
 * `POST /api/dev/token { name }`: a chat token for the demo page, signed with this installation's
 * secret. Anyone who reaches it is whoever they say, so it answers 403 when NODE_ENV=production.
 */
@Controller('api/dev')
export class DevSignInController {
  constructor(
    private readonly config: ConfigService<AppConfig, true>,
    private readonly jwt: JwtService,
  ) {}

  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  signIn(@Body() body: unknown): DevToken {
    if (this.config.get('server', { infer: true }).nodeEnv === 'production') {
      throw new ForbiddenException({
        error: {
          code: 'FORBIDDEN',
          message:
            'Development sign-in is off when NODE_ENV=production: use a token from your identity provider',
        },
      });
    }
    const raw = (body as { name?: unknown } | undefined)?.name;
    const name = typeof raw === 'string' ? raw.trim() : '';
    const userId = userIdFor(name);
    if (name.length === 0 || name.length > MAX_NAME_LENGTH || userId.length === 0) {
      throw new BadRequestException({
        error: {
          code: 'VALIDATION_FAILED',
          message: `name must be 1-${MAX_NAME_LENGTH} characters with at least one letter or digit`,
        },
      });
    }
    const expiresAt = Math.floor(Date.now() / 1000) + DEV_TOKEN_TTL_SECONDS;
    const token = this.jwt.sign({ sub: userId, name, exp: expiresAt }, { algorithm: 'HS256' });
    return { token, userId, name, expiresAt };
  }
}
