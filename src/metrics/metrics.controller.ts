import { Controller, Get, Header, Res } from '@nestjs/common';
import { Registry } from 'prom-client';

/**
 * `GET /metrics`: this app's own registry in Prometheus text format.
 *
 * Not `@willsoto/nestjs-prometheus`: its 6.x is CommonJS requiring the ESM-only `@nestjs/common` 12,
 * which Node 20 loads in production (require(esm)) but Jest on Node 20 cannot, so every in-process app
 * test failed to load; and its controller serves only prom-client's global registry, so this class
 * had to replace it anyway. What it added beyond this controller was the module wiring.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  async index(@Res({ passthrough: true }) response: { header(name: string, value: string): unknown }) {
    response.header('Content-Type', this.registry.contentType);
    return this.registry.metrics();
  }
}
