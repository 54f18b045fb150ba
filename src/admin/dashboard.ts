import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { VerifyResult } from '../audit/index.js';
import { parseInput } from '../http/parse-input.js';
import type { Alert, LiveView } from '../observability/index.js';

export interface DashboardSources {
  /** The live last hour: this process's, or every worker's together. */
  live(): Promise<LiveView>;
  /** The alerts raised since start, newest last: this process's, or every worker's together. */
  alerts(): Promise<readonly Alert[]>;
  /** Checks the whole stored audit chain against the recorded head. */
  verifyAudit(): Promise<VerifyResult>;
}

/** These routes take no field: one given was ignored, where every other admin route refuses it. */
const nothing = z.strictObject({});

/** What only the dashboard needs: the live last hour, the recent alerts, and the audit check on demand. */
export function adminDashboardRoutes(
  app: FastifyInstance,
  { live, alerts, verifyAudit }: DashboardSources,
): void {
  app.get('/admin/stats/live', () => live());
  app.get('/admin/alerts', async () => {
    return { alerts: [...(await alerts())].reverse() };
  });
  app.post('/admin/audit/verify', async (request) => {
    parseInput(nothing.optional(), request.body ?? undefined);
    return verifyAudit();
  });
}
