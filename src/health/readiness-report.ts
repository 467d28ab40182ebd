export interface CheckDetail {
  status: 'up' | 'down' | 'disabled';
  latency_ms: number;
  message?: string;
}

/** The body of `GET /api/ready` (CONTRACT section 3); `checks` keeps exactly the seed's four keys. */
export interface ReadinessReport {
  status: 'ready' | 'not_ready';
  checks: { database: boolean; ollama: boolean; redis: boolean; storage: boolean };
  security_validated: boolean;
  multi_worker_support: boolean;
  workers: number;
  details: Record<string, CheckDetail>;
}
