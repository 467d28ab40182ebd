import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from '../config/app-config.js';

/** The file in STORAGE_DIR that holds the installation's generated secret (owner read/write only). */
export const INSTALLATION_SECRET_FILE = 'jwt-secret';

/** JWT_SECRET, or a random secret of this installation (docs/decisions/0011-installation-jwt-secret.md). */
export function signingSecret(config: Pick<AppConfig, 'security' | 'storage'>): string {
  return config.security.jwtSecret ?? installationSecret(config.storage.dir);
}

function installationSecret(storageDir: string): string {
  const path = join(storageDir, INSTALLATION_SECRET_FILE);
  const existing = readIfPresent(path);
  if (existing) return existing;
  const draft = `${path}.${process.pid}.tmp`;
  writeFileSync(draft, randomBytes(48).toString('base64url'), { mode: 0o600 });
  try {
    linkSync(draft, path);
  } catch (error) {
    // Another process created it first: its secret wins.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(draft);
  }
  return readFileSync(path, 'utf8').trim();
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
