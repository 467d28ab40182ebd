import type { HealthSample } from './health-sample.js';

/** 1536 → "1.5 KiB". */
function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** 93784 → "1d 2h 3m". */
function formatDuration(seconds: number): string {
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days) return `${days}d ${hours}h ${minutes}m`;
  if (hours) return `${hours}h ${minutes}m`;
  if (minutes) return `${minutes}m ${seconds % 60}s`;
  return `${seconds}s`;
}

const ms = (value: number | null) => (value === null ? 'n/a' : `${value} ms`);

/** The human report of one sample: one labelled line per item, the verdict and its reasons last. */
export function renderSample(sample: HealthSample): string {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(9)} ${text}`);
  lines.push(`Redis health ${sample.timestamp}`);
  row('target', `${sample.target} (${sample.mode}, prefix ${sample.prefix})`);
  if (sample.connected) {
    const { server, memory } = sample;
    if (server) {
      const clients =
        server.maxClients === null
          ? `${server.connectedClients} clients`
          : `${server.connectedClients} clients of ${server.maxClients}`;
      row(
        'server',
        `Redis ${server.version}${server.nodes > 1 ? ` (${server.nodes} masters)` : ''}, ` +
          `up ${formatDuration(server.uptimeSeconds)}, ${clients}, ${server.opsPerSec} ops/s`,
      );
      row(
        'traffic',
        `largest output buffer ${formatBytes(server.largestOutputBufferBytes)}, ` +
          `${server.evictedKeys} keys evicted, ${server.rejectedConnections} connections rejected (since start)`,
      );
    } else row('server', 'n/a');
    if (memory) {
      const limit =
        memory.maxmemoryBytes > 0
          ? `maxmemory ${formatBytes(memory.maxmemoryBytes)} (${memory.usedPercentOfMax}% used)`
          : 'no maxmemory';
      row(
        'memory',
        `${formatBytes(memory.usedBytes)} used, peak ${formatBytes(memory.peakBytes)}, ${limit}` +
          (memory.policy ? `, policy ${memory.policy}` : ''),
      );
    } else row('memory', 'n/a');
    row(
      'sessions',
      sample.sessions === null ? 'n/a' : `${sample.sessions} live (SCAN ${sample.prefix}:session:*)`,
    );
    const { expected, subscribed, registry } = sample.workers;
    row('workers', `${subscribed ?? 'n/a'} subscribed to the adapter / ${expected ?? 'n/a'} registered`);
    for (const worker of registry) {
      const canary =
        worker.canaryOk === null
          ? 'no canary yet'
          : `canary ${worker.canaryOk ? 'ok' : 'FAILING'}` +
            (worker.canaryRttMs !== null ? ` ${worker.canaryRttMs} ms` : '') +
            (worker.canaryAgeSeconds !== null ? ` (${worker.canaryAgeSeconds} s ago)` : '');
      row('', `${worker.instance}:${worker.pid ?? '?'} started ${worker.startedAt ?? '?'}, ${canary}`);
    }
    row(
      'canary',
      sample.canary ? (sample.canary.ok ? `pub/sub ${sample.canary.detail}` : sample.canary.detail) : 'n/a',
    );
    row(
      'latency',
      `PING ${ms(sample.latencyMs.ping)}, GET ${ms(sample.latencyMs.get)}, SET ${ms(sample.latencyMs.set)} (mean of 5)`,
    );
  }
  for (const note of sample.notes) row('note', note);
  lines.push(sample.reasons.length ? `${sample.verdict}: ${sample.reasons.join('; ')}` : sample.verdict);
  return lines.join('\n');
}
