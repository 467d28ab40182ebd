import { Controller, Get, Header, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import { Registry } from 'prom-client';

/**
 * `GET /metrics` for this app's own registry. PrometheusModule's stock controller always serves
 * prom-client's global registry; its `controller` option takes this one instead (it sets the path).
 */
@Controller()
export class MetricsController extends PrometheusController {
  constructor(private readonly registry: Registry) {
    super();
  }

  @Get()
  @Header('Cache-Control', 'no-store')
  override async index(
    @Res({ passthrough: true }) response: { header(name: string, value: string): unknown },
  ) {
    response.header('Content-Type', this.registry.contentType);
    return this.registry.metrics();
  }
}
