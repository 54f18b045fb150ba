export { DEFAULT_PRICES, type Price, PriceTable } from './pricing.js';
export { UsageRecorder, type UsageRecorderOptions } from './usage-recorder.js';
