import { Controller, Get, Header, Res } from '@nestjs/common';
import { Registry } from 'prom-client';

/** `GET /metrics`: this app's registry (docs/decisions/0012-own-metrics-module.md). */
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
