/**
 * Operator overrides with versions (D46): every field of an override remembers when the
 * operator set it and where (an interceptor's admin endpoint, ctl at the manager). A change
 * that reaches the manager late (made at an interceptor while the manager was away) changes
 * only the fields nobody has set since; a reset drops only what is older than itself. The
 * newest decision stands, wherever it was made. Times are the manager's wall clock: the
 * receiving manager turns a change's age into one, so hosts' clocks need not agree.
 *
 * @example
 * const r = applyOverride({ values: {}, versions: {} }, { fields: { enabled: false } }, { at: 2000, by: 'ctl' });
 * r.values; // { enabled: false }
 * applyOverride(r, { fields: { enabled: true } }, { at: 1000, by: 'ic-1' }).stale; // ['enabled']
 */

export interface OverrideOrigin {
  /** Wall-clock ms when the operator made the change (the manager's clock). */
  at: number;
  /** Where: "ctl at 10.0.0.5", "interceptor ic-1". */
  by: string;
}

export interface VersionedOverride {
  values: Record<string, unknown>;
  versions: Record<string, OverrideOrigin>;
}

export interface OverrideChangeFields {
  /** Drop this object's overrides (those older than the change) before setting `fields`. */
  reset?: boolean;
  fields: Record<string, unknown>;
}

export interface Applied extends VersionedOverride {
  /** Fields set, and "reset" when a reset applied. */
  applied: string[];
  /** Fields left alone because a newer change set them (or a newer reset dropped them). */
  stale: string[];
}

/** Applies one change; `resetAt` is the last reset of every override (a change before it is stale). */
export function applyOverride(
  current: VersionedOverride,
  change: OverrideChangeFields,
  origin: OverrideOrigin,
  resetAt?: OverrideOrigin,
): Applied {
  const values = { ...current.values };
  const versions = { ...current.versions };
  const applied: string[] = [];
  const stale: string[] = [];
  const older = (f: string) => (versions[f]?.at ?? Number.NEGATIVE_INFINITY) <= origin.at;
  if (resetAt && resetAt.at > origin.at) {
    const asked = Object.keys(change.fields).filter((f) => change.fields[f] !== undefined);
    return { values, versions, applied, stale: [...(change.reset ? ['reset'] : []), ...asked] };
  }
  if (change.reset) {
    for (const f of Object.keys(values))
      if (older(f)) {
        delete values[f];
        delete versions[f];
      }
    applied.push('reset');
  }
  for (const [f, v] of Object.entries(change.fields)) {
    if (v === undefined) continue;
    if (!older(f)) {
      stale.push(f);
      continue;
    }
    values[f] = v;
    versions[f] = origin;
    applied.push(f);
  }
  return { values, versions, applied, stale };
}

/** A reset of everything at `origin`: what was set after it stands. */
export function resetOverride(current: VersionedOverride, origin: OverrideOrigin): VersionedOverride {
  return applyOverride(current, { reset: true, fields: {} }, origin);
}
