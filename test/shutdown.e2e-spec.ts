import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../src/bootstrap/create-app.js';
import { loadConfig } from '../src/config/load-config.js';
import { ShutdownState } from '../src/health/shutdown-state.js';
import { ServiceProcess, stopAllServices } from './support/service.js';

afterAll(() => stopAllServices());

describe('readiness during shutdown (in process, through createApp)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-shutdown-'));
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await createApp(
      loadConfig({
        STORAGE_DIR: dir,
        DATABASE_URL: `sqlite:${join(dir, 'chat.db')}`,
        OLLAMA_URL: 'http://127.0.0.1:9',
      }),
      { logger: false },
    );
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 the moment shutdown begins, while liveness stays 200', async () => {
    expect((await fetch(`${url}/api/ready`)).status).toBe(200);
    app.get(ShutdownState).begin();
    const ready = await fetch(`${url}/api/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: 'not_ready',
      details: { shutdown: { status: 'down', message: 'shutting down' } },
    });
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
  });
});

describe('SIGTERM', () => {
  it('exits 0 well within SHUTDOWN_GRACE_MS, after readiness turned 503', async () => {
    const service = await ServiceProcess.start({ SHUTDOWN_GRACE_MS: '3000' });
    const started = Date.now();
    const { code, signal } = await service.stop('SIGTERM');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(service.output).toMatch(/SIGTERM received: readiness is now 503/);
    expect(service.output).toContain('Shutdown complete');
  });
});
