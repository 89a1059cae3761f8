import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses "250ms", "2s", "1.5m", "1h", "7d" or a plain number of milliseconds.
 *
 * @example
 * parseDuration('1.5s'); // 1500
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** A schema for a duration, giving milliseconds. */
export function duration(description: string) {
  return z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration such as "250ms", "2s" or "5m", got ${JSON.stringify(v)}`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: `${description} A duration: "250ms", "2s", "5m", "1h", or milliseconds.` });
}
