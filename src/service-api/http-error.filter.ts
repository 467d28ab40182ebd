import { type ArgumentsHost, Catch, HttpException, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type { ServerResponse } from 'node:http';
import { ChatError } from '../chat/chat.error.js';
import type { ErrorBody, ErrorCode } from '../chat/chat.events.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
};
const CODE: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
};

/** The paths whose failures this filter words; every other path keeps Nest's own answers. */
const API_PATH = /^\/api\/conversations\//;

/**
 * Every failure of the HTTP API as `{ error: { code, message } }`, like an ack; no stack, no driver
 * text. Global (`useGlobalFilters`), so that a body the JSON parser refuses, before any route, is
 * worded the same; other paths are handed to Nest's default filter.
 */
@Catch()
export class HttpErrorFilter extends BaseExceptionFilter {
  private readonly logger = new Logger('ServiceApi');

  override catch(exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<IncomingMessage>();
    if (!API_PATH.test(request.url ?? '')) return super.catch(exception, host);
    const response = host.switchToHttp().getResponse<ServerResponse>();
    let status = 500;
    let error: ErrorBody = { code: 'INTERNAL', message: 'Internal error' };
    if (exception instanceof ChatError) {
      status = STATUS[exception.code] ?? 500;
      error = { code: exception.code, message: exception.message };
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      // Nest's own: a body that is not JSON, or over the body parser's limit.
      error = { code: CODE[status] ?? 'INTERNAL', message: exception.message };
    } else {
      this.logger.error({ msg: 'Service API request failed', err: exception });
    }
    if (status === 429) response.setHeader('Retry-After', /retry in (\d+) s/.exec(error.message)?.[1] ?? '1');
    response.statusCode = status;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.end(JSON.stringify({ error }));
  }
}
