import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { AppConfig } from '../config/app-config.js';
import { timedProbe } from '../common/timed-probe.js';

@Injectable()
export class StorageHealthIndicator {
  private readonly dir: string;

  constructor(
    private readonly health: HealthIndicatorService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.dir = config.get('storage', { infer: true }).dir;
  }

  /** `storage`: a file can be written to and removed from STORAGE_DIR (a full or read-only disk fails). */
  check() {
    return timedProbe(this.health, 'storage', async (signal) => {
      const probeFile = join(this.dir, `.ready-${process.pid}-${randomUUID()}`);
      try {
        await writeFile(probeFile, 'ok', { signal });
      } finally {
        await rm(probeFile, { force: true });
      }
    });
  }
}
