import type { FastifyInstance } from 'fastify';
import type { VerifyResult } from '../audit/index.js';
import type { Alert, LiveStats, Metrics } from '../observability/index.js';

export interface DashboardSources {
  live: LiveStats;
  alerts: readonly Alert[];
  /** Checks the whole stored audit chain against the recorded head. */
  verifyAudit(): Promise<VerifyResult>;
}

/** What only the dashboard needs: the live last hour, the recent alerts, and the audit check on demand. */
export function adminDashboardRoutes(
  app: FastifyInstance,
  { live, alerts, verifyAudit }: DashboardSources,
  metrics: Metrics,
): void {
  app.get('/admin/stats/live', async () => ({
    inFlight: metrics.inFlightNow(),
    seconds: live.lastHour(),
    ...live.lastHourByGroup(),
  }));
  app.get('/admin/alerts', async () => ({ alerts: [...alerts].reverse() }));
  app.post('/admin/audit/verify', async () => verifyAudit());
}
