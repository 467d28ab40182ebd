import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** Where the OpenAPI description is served outside production: the UI, and its JSON at `-json`. */
export const OPENAPI_PATH = 'api/docs';

/** The HTTP surface described for the teams that call it; swagger-ui's files come from node_modules, no CDN. */
export function serveOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('nest-chat-redis HTTP API')
    .setDescription(
      'Health, readiness and the service API. Chat itself is Socket.IO (namespace /chat): see docs/contract.md.',
    )
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'A token with "scope": "service"',
    })
    .build();
  SwaggerModule.setup(OPENAPI_PATH, app, () => SwaggerModule.createDocument(app, config));
}
