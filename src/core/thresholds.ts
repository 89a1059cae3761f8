/**
 * Load levels of a server (document 000 claims 2-8; 002 end of section IX): past the
 * heavily-loaded level the interceptor sends it no new users; past the maximum-load level
 * its own interface redirects stateless users away. Each level is entered when a reading
 * reaches its threshold and left only when the reading falls a margin below it
 * (hysteresis), and not before the level has held for `hold` ms, so a server near a
 * threshold does not flap.
 *
 * @example
 * const spec = { metric: 'queueDelay', heavy: 200, max: 500 } as const;
 * let lv = initialLevel(0);
 * lv = nextLevel(lv, { queueDelay: 250 }, [spec], DEFAULT_LEVEL_PARAMS, 1000); // heavy
 */

export type LoadLevelName = 'normal' | 'heavy' | 'max';
export type ThresholdMetric = 'queueLength' | 'queueDelay' | 'cpu' | 'memory';

export interface ThresholdSpec {
  metric: ThresholdMetric;
  /** Reading at which the server is heavily loaded. */
  heavy?: number;
  /** Reading at which the server is under maximum load. */
  max?: number;
}

export interface LevelParams {
  /** A level is left when the reading is below threshold × (1 − hysteresis). */
  hysteresis: number;
  /** Least time a level holds before it may fall, ms. */
  hold: number;
}

export const DEFAULT_LEVEL_PARAMS: LevelParams = { hysteresis: 0.2, hold: 2000 };

export interface LoadLevel {
  level: LoadLevelName;
  /** Clock reading when this level was entered. */
  since: number;
}

/** Readings by metric; a metric without a reading does not move the level. */
export type Readings = Partial<Record<ThresholdMetric, number>>;

const RANK: Record<LoadLevelName, number> = { normal: 0, heavy: 1, max: 2 };
const BY_RANK: LoadLevelName[] = ['normal', 'heavy', 'max'];

export function initialLevel(now: number): LoadLevel {
  return { level: 'normal', since: now };
}

/** The level one threshold calls for, given where the server stands now. */
function levelFor(spec: ThresholdSpec, value: number, current: LoadLevelName, h: number): number {
  const held = (thr: number | undefined, rank: number) =>
    thr !== undefined && (value >= thr || (RANK[current] >= rank && value >= thr * (1 - h)));
  if (held(spec.max, 2)) return 2;
  if (held(spec.heavy, 1)) return 1;
  return 0;
}

/** The level after new readings. Returns `prev` itself when nothing changes. */
export function nextLevel(
  prev: LoadLevel,
  readings: Readings,
  specs: readonly ThresholdSpec[],
  params: LevelParams,
  now: number,
): LoadLevel {
  let want = 0;
  let any = false;
  for (const spec of specs) {
    const v = readings[spec.metric];
    if (v === undefined || !Number.isFinite(v)) continue;
    any = true;
    want = Math.max(want, levelFor(spec, v, prev.level, params.hysteresis));
  }
  if (!any) return prev;
  const have = RANK[prev.level];
  if (want === have) return prev;
  if (want < have && now - prev.since < params.hold) return prev;
  return { level: BY_RANK[want]!, since: now };
}
