import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { timedProbe } from '../common/timed-probe.js';

@Injectable()
export class DatabaseHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly dataSource: DataSource,
  ) {}

  /** `database`: a trivial query round-trips. */
  check() {
    return timedProbe(this.health, 'database', () => this.dataSource.query('SELECT 1'));
  }
}
