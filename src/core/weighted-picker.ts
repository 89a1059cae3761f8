/**
 * The interval choice of document 002, section IX, on a Fenwick (binary indexed) tree.
 *
 * Each slot owns a share of [0, 1) proportional to its weight; a random r picks the slot
 * whose interval holds r. Changing one weight and picking both cost O(log n), so every
 * referral can change a weight without rebuilding the intervals. Weights that are zero,
 * negative or not finite count as zero and are never picked.
 *
 * @example
 * const p = new WeightedPicker([1500, 2250, 3250, 2000, 1000, 1000]);
 * p.pick(0.517); // 2 (server C)
 */
export class WeightedPicker {
  private readonly tree: Float64Array;
  private readonly weights: Float64Array;
  private readonly top: number;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.weights = new Float64Array(n);
    this.tree = new Float64Array(n + 1);
    let top = 1;
    while (top * 2 <= n) top *= 2;
    this.top = top;
    for (let i = 0; i < n; i++) this.weights[i] = clean(weights[i]!);
    // O(n) build: each node adds itself into its parent.
    for (let i = 1; i <= n; i++) {
      this.tree[i]! += this.weights[i - 1]!;
      const parent = i + (i & -i);
      if (parent <= n) this.tree[parent]! += this.tree[i]!;
    }
  }

  get size(): number {
    return this.weights.length;
  }

  weight(index: number): number {
    return this.weights[index] ?? 0;
  }

  /** Sum of all weights; 0 means nothing can be picked. */
  total(): number {
    let sum = 0;
    for (let i = this.weights.length; i > 0; i -= i & -i) sum += this.tree[i]!;
    return sum;
  }

  set(index: number, weight: number): void {
    const w = clean(weight);
    const delta = w - this.weights[index]!;
    if (delta === 0) return;
    this.weights[index] = w;
    for (let i = index + 1; i <= this.weights.length; i += i & -i) this.tree[i]! += delta;
  }

  /**
   * The slot whose interval holds r (0 <= r < 1), or -1 when every weight is zero.
   */
  pick(r: number): number {
    const total = this.total();
    if (!(total > 0)) return -1;
    let target = r * total;
    let pos = 0;
    for (let step = this.top; step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= this.weights.length && this.tree[next]! <= target) {
        pos = next;
        target -= this.tree[next]!;
      }
    }
    // Floating-point sums can leave pos on a zero-weight slot at the very end; step back
    // to the last slot that can actually be picked.
    if (pos >= this.weights.length || this.weights[pos] === 0) {
      for (let i = Math.min(pos, this.weights.length - 1); i >= 0; i--) if (this.weights[i]! > 0) return i;
      for (let i = pos; i < this.weights.length; i++) if (this.weights[i]! > 0) return i;
      return -1;
    }
    return pos;
  }
}

function clean(w: number): number {
  return Number.isFinite(w) && w > 0 ? w : 0;
}
