/**
 * Statistics for acceptance rates: a paired bootstrap over prompts for the difference of two
 * drafts' pooled α, and a t-interval for a mean over seeds.
 *
 * @module
 */
import { Rng } from "./rng.ts";

/** Accepted and rejected counts of one prompt. */
export interface PromptCounts {
  accepted: number;
  rejected: number;
}

/** Returns the pooled α = Σ accepted / Σ (accepted + rejected), or 0 when nothing was proposed. */
export function pooledAlpha(counts: PromptCounts[]): number {
  let accepted = 0, proposed = 0;
  for (const c of counts) {
    accepted += c.accepted;
    proposed += c.accepted + c.rejected;
  }
  return proposed === 0 ? 0 : accepted / proposed;
}

/** A difference with its bootstrap interval and two-sided p-value. */
export interface PairedComparison {
  /** Pooled α of B minus pooled α of A on all prompts. */
  difference: number;
  /** 2.5 % and 97.5 % percentiles of the bootstrap differences. */
  low: number;
  high: number;
  /** Two-sided bootstrap p-value for a difference of 0. */
  pValue: number;
  samples: number;
}

/**
 * Compares two drafts evaluated on the same prompts: resamples prompts with replacement (the
 * same prompts for both drafts), recomputes both pooled α values, and reports the percentile
 * interval of their difference B − A and a two-sided p-value.
 *
 * @example
 * ```ts
 * import { pairedBootstrap } from "./stats.ts";
 * const a = [{ accepted: 5, rejected: 5 }, { accepted: 6, rejected: 4 }];
 * const b = [{ accepted: 7, rejected: 3 }, { accepted: 8, rejected: 2 }];
 * const result = pairedBootstrap(a, b, { samples: 200, seed: 1 });
 * if (Math.abs(result.difference - 0.2) > 1e-12) throw new Error(`difference ${result.difference}`);
 * ```
 */
export function pairedBootstrap(
  a: PromptCounts[],
  b: PromptCounts[],
  options: { samples?: number; seed?: number } = {},
): PairedComparison {
  if (a.length !== b.length) {
    throw new Error(`paired comparison needs the same prompts: ${a.length} vs ${b.length} records`);
  }
  if (a.length === 0) throw new Error("paired comparison of zero prompts");
  const samples = options.samples ?? 2000;
  const rng = new Rng(options.seed ?? 0);
  const n = a.length;
  const differences = new Float64Array(samples);
  for (let s = 0; s < samples; s++) {
    let acceptedA = 0, proposedA = 0, acceptedB = 0, proposedB = 0;
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      acceptedA += a[j].accepted;
      proposedA += a[j].accepted + a[j].rejected;
      acceptedB += b[j].accepted;
      proposedB += b[j].accepted + b[j].rejected;
    }
    differences[s] = (proposedB ? acceptedB / proposedB : 0) - (proposedA ? acceptedA / proposedA : 0);
  }
  differences.sort();
  const at = (q: number) => differences[Math.min(samples - 1, Math.max(0, Math.round(q * (samples - 1))))];
  let below = 0, above = 0;
  for (const d of differences) {
    if (d <= 0) below++;
    if (d >= 0) above++;
  }
  const pValue = Math.min(1, (2 * Math.min(below, above)) / samples);
  return { difference: pooledAlpha(b) - pooledAlpha(a), low: at(0.025), high: at(0.975), pValue, samples };
}

// Two-sided 97.5 % quantiles of Student's t for 1 … 30 degrees of freedom.
const T_975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/**
 * Returns the mean of `values` with a 95 % t-interval (half-width 0 for a single value, which
 * then has no spread to measure).
 *
 * @example
 * ```ts
 * import { meanInterval } from "./stats.ts";
 * const { mean, halfWidth } = meanInterval([1, 2, 3]);
 * // sd = 1, t(0.975, 2) = 4.303, half-width = 4.303 / √3
 * if (mean !== 2 || Math.abs(halfWidth - 4.303 / Math.sqrt(3)) > 1e-9) throw new Error(`${mean} ${halfWidth}`);
 * ```
 */
export function meanInterval(values: number[]): { mean: number; halfWidth: number; n: number } {
  const n = values.length;
  if (n === 0) throw new Error("mean of no values");
  const mean = values.reduce((x, y) => x + y, 0) / n;
  if (n === 1) return { mean, halfWidth: 0, n };
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1);
  const t = n - 1 <= T_975.length ? T_975[n - 2] : 1.96;
  return { mean, halfWidth: t * Math.sqrt(variance / n), n };
}
