import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { NotAServiceTokenError, SocketAuthenticator } from '../auth/socket-authenticator.js';
import { ChatError } from '../chat/chat.error.js';

/** The service's id, set on the request by ServiceTokenGuard. */
export const SERVICE_ID = Symbol('serviceId');
export type ServiceRequest = IncomingMessage & { [SERVICE_ID]?: string };

/**
 * `Authorization: Bearer <JWT>` signed like handshake tokens and carrying `"scope": "service"`: none or
 * an invalid one is UNAUTHORIZED (401), a user's valid token FORBIDDEN (403).
 */
@Injectable()
export class ServiceTokenGuard implements CanActivate {
  constructor(private readonly authenticator: SocketAuthenticator) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<ServiceRequest>();
    const [scheme, token] = (request.headers.authorization ?? '').split(' ');
    try {
      if (scheme?.toLowerCase() !== 'bearer') throw new Error('no bearer token');
      request[SERVICE_ID] = this.authenticator.verifyService(token).serviceId;
      return true;
    } catch (error) {
      if (error instanceof NotAServiceTokenError)
        throw new ChatError('FORBIDDEN', 'This endpoint takes a service token ("scope": "service")');
      throw new ChatError('UNAUTHORIZED', 'A valid bearer token is required');
    }
  }
}
