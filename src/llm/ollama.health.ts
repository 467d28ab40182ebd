import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { AppConfig, OllamaConfig } from '../config/app-config.js';
import { ProbeFailure, timedProbe } from '../common/timed-probe.js';

@Injectable()
export class OllamaHealthIndicator {
  private readonly config: OllamaConfig;

  constructor(
    private readonly health: HealthIndicatorService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.config = config.get('ollama', { infer: true });
  }

  /** `ollama`: `GET /api/version` is 200. Degrades readiness only, unless OLLAMA_REQUIRED=true. */
  check() {
    return timedProbe(
      this.health,
      'ollama',
      async (signal) => {
        const response = await fetch(`${this.config.url}/api/version`, { signal });
        await response.body?.cancel();
        if (!response.ok) throw new ProbeFailure(`GET /api/version answered ${response.status}`);
      },
      { onFailure: this.config.required ? 'down' : 'degraded' },
    );
  }
}
