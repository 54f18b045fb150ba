export { type Alert, type AlertKind, AlertMonitor, MinuteBurst, type RaisedAlert } from './alerts.js';
export { crashReport, reportCrashesWith, writeCrash } from './crash.js';
export { type LiveGroup, type LiveSecond, LiveStats, type LiveView, mergeLiveViews } from './live-stats.js';
export { createLogger, type GatewayLogger, isoTimestamp, type Logger, type LoggerOptions } from './logger.js';
export { aggregateMetrics, type KeySnapshot, Metrics, type RequestLabels } from './metrics.js';
export { MIN_SECRET_LENGTH, maskSecret, Redactor } from './redact.js';
export { AlertWebhook, signWebhook, verifyWebhookSignature } from './webhook.js';
