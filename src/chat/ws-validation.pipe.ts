import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ChatError } from './chat.error.js';

/** Payload to DTO or `VALIDATION_FAILED`, with `validateSync`: an async DTO constraint would be skipped. */
@Injectable()
export class WsValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const dto = metadata.metatype;
    // Only @MessageBody() parameters have a DTO class; the socket's type erases to Object.
    if (!dto || dto === Object) return value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ChatError('VALIDATION_FAILED', 'payload must be an object');
    }
    const instance = plainToInstance(dto, value) as object;
    const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length > 0) {
      const messages = errors.flatMap((error) =>
        Object.values(error.constraints ?? { [error.property]: `${error.property} is invalid` }),
      );
      throw new ChatError('VALIDATION_FAILED', messages.join('; '));
    }
    return instance;
  }
}
