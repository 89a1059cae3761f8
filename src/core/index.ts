/**
 * Switchyard's pure rules: no sockets, no timers, no clock or randomness of their own.
 * Exported as `switchyard/core`.
 */
export * from './backoff.js';
export * from './health.js';
export * from './load-metric.js';
export * from './load-value.js';
export * from './page-rules.js';
export * from './probe-split.js';
export * from './queue-choice.js';
export * from './random.js';
export * from './referrals.js';
export * from './report-interval.js';
export * from './round-trip.js';
export * from './server-pool.js';
export * from './service-estimate.js';
export * from './swamped.js';
export * from './thresholds.js';
export * from './weighted-picker.js';
