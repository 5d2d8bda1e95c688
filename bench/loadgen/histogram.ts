/**
 * A log-bucketed latency histogram: values in milliseconds, kept in buckets 2% wide (so a percentile
 * is within 1% of the true value) from 1 µs to about 30 minutes. Mergeable and serializable, so that
 * worker processes can send theirs to the runner.
 */

/** Bucket growth factor: each bucket is 2% wider than the one before. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Smallest value told apart, in ms (1 µs); smaller values land in bucket 0. */
const FLOOR_MS = 0.001;
/** Values up to FLOOR_MS × GROWTH^BUCKETS (≈ 30 min) are kept; larger ones count in the last bucket. */
const BUCKETS = 1100;

export interface HistogramSnapshot {
  counts: number[];
  count: number;
  min: number;
  max: number;
  sum: number;
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  mean: number | null;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  /** Records one value in milliseconds (negative values and NaN count as 0). */
  record(ms: number): void {
    const v = Number.isNaN(ms) ? 0 : Math.max(ms, 0);
    this.counts[bucketOf(v)]! += 1;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /**
   * The value below which `p` percent of the values lie (nearest rank), as the middle of its bucket,
   * clamped to the observed min and max (exact for the first and last rank). NaN when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.count));
    // The smallest and largest values are known exactly.
    if (rank === 1) return this.min;
    if (rank >= this.count) return this.max;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketMiddle(i)));
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  merge(other: Histogram | HistogramSnapshot): void {
    const counts = other instanceof Histogram ? other.counts : other.counts;
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += counts[i] ?? 0;
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
    this.sum = 0;
  }

  snapshot(): HistogramSnapshot {
    return { counts: [...this.counts], count: this.count, min: this.min, max: this.max, sum: this.sum };
  }

  static from(s: HistogramSnapshot): Histogram {
    const h = new Histogram();
    h.merge(s);
    return h;
  }

  /** Count, p50, p99, p99.9, max and mean, rounded to µs (null when empty). */
  summary(): LatencySummary {
    const r = (v: number) => (Number.isNaN(v) ? null : Math.round(v * 1000) / 1000);
    return {
      count: this.count,
      p50: r(this.percentile(50)),
      p99: r(this.percentile(99)),
      p999: r(this.percentile(99.9)),
      max: r(this.count ? this.max : Number.NaN),
      mean: r(this.mean),
    };
  }
}

export function bucketOf(ms: number): number {
  if (ms <= FLOOR_MS) return 0;
  const i = Math.floor(Math.log(ms / FLOOR_MS) / LOG_GROWTH) + 1;
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

/** Bucket i ≥ 1 holds (FLOOR·G^(i-1), FLOOR·G^i]; its middle is the geometric mean of the bounds. */
function bucketMiddle(i: number): number {
  if (i === 0) return FLOOR_MS;
  return FLOOR_MS * GROWTH ** (i - 0.5);
}
