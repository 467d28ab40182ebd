import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import type { ReadinessReport } from './readiness-report.js';
import { ReadinessService } from './readiness.service.js';

@Controller('api')
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  /** Liveness: the process answers. Checks nothing outside it, so a Redis outage never restarts pods. */
  @Get('health')
  @Header('Cache-Control', 'no-store')
  liveness(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: 200 when every critical dependency is up, 503 otherwise, same body either way. */
  @Get('ready')
  @Header('Cache-Control', 'no-store')
  async ready(): Promise<ReadinessReport> {
    const report = await this.readiness.check();
    if (report.status !== 'ready') throw new ServiceUnavailableException(report);
    return report;
  }
}
