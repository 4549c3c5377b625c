/**
 * AdaSPEC token selection: score each valid token by how far the draft lags the reference,
 * keep the top fraction k, and normalise the kept loss.
 *
 * @module
 */

/**
 * Returns the quantile `q` of `values` by linear interpolation between the sorted neighbours
 * (PyTorch's default), which the authors' code uses to set the selection threshold.
 *
 * @example
 * ```ts
 * import { linearQuantile } from "./selection.ts";
 * if (linearQuantile([4, 1, 3, 2], 0.5) !== 2.5) throw new Error("median of 1..4 is 2.5");
 * ```
 */
export function linearQuantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new Error("quantile of an empty pool: the batch has no valid tokens");
  if (!(q >= 0 && q <= 1)) throw new Error(`invalid quantile ${q}: use a value in [0, 1]`);
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** Result of selecting tokens by score. */
export interface Selection {
  /** Threshold: tokens whose score is at least this are kept. */
  threshold: number;
  /** 1 for kept tokens, 0 otherwise, aligned with the input scores. */
  keep: Float32Array;
  /** Number of kept tokens. */
  keptCount: number;
  /** Fraction of the pool actually kept (can differ from k because ties and rounding). */
  keptFraction: number;
}

/**
 * Keeps the tokens whose score is at or above the `1 − k` quantile of the pool (`top`), or at or
 * below the `k` quantile (`bottom`, the ablation).
 */
export function selectTokens(scores: ArrayLike<number>, k: number, mode: "top" | "bottom" = "top"): Selection {
  if (!(k > 0 && k <= 1)) throw new Error(`invalid selection ratio k = ${k}: use a value in (0, 1]`);
  const threshold = linearQuantile(scores, mode === "top" ? 1 - k : k);
  const keep = new Float32Array(scores.length);
  let keptCount = 0;
  for (let i = 0; i < scores.length; i++) {
    const kept = mode === "top" ? scores[i] >= threshold : scores[i] <= threshold;
    if (kept) {
      keep[i] = 1;
      keptCount++;
    }
  }
  return { threshold, keep, keptCount, keptFraction: keptCount / scores.length };
}

/** Normalisation of the kept loss: `valid` Σ/N_valid (authors' code), `k-valid` Σ/(k·N_valid) (paper Eq. 10), `kept` Σ/N_kept. */
export type LossNormalisation = "valid" | "k-valid" | "kept";

/** Returns the divisor of the summed kept loss for a normalisation. */
export function lossDivisor(
  normalisation: LossNormalisation,
  validCount: number,
  keptCount: number,
  k: number,
): number {
  switch (normalisation) {
    case "valid":
      return Math.max(validCount, 1);
    case "k-valid":
      return Math.max(k * validCount, 1e-12);
    case "kept":
      return Math.max(keptCount, 1);
    default:
      throw new Error(`unknown loss normalisation "${normalisation}": use valid, k-valid or kept`);
  }
}
