/**
 * Sampling verification of speculative decoding (Leviathan et al. 2023) on plain probability
 * vectors: acceptance probability, the residual distribution, and the expected acceptance.
 *
 * @module
 */

/**
 * Returns the probability min(1, p(y) / q(y)) of accepting draft token `y`, where p is the
 * target's and q the draft's distribution.
 *
 * @example
 * ```ts
 * import { acceptProbability } from "./sampling.ts";
 * if (acceptProbability([0.6, 0.4, 0], [0.2, 0.8, 0], 1) !== 0.5) throw new Error("0.4 / 0.8 = 0.5");
 * ```
 */
export function acceptProbability(p: ArrayLike<number>, q: ArrayLike<number>, y: number): number {
  if (!(q[y] > 0)) {
    throw new Error(`draft proposed token ${y} with probability ${q[y]}; a sampled token must have q > 0`);
  }
  return Math.min(1, p[y] / q[y]);
}

/**
 * Returns the residual distribution max(0, p − q) renormalised, sampled from after a rejection.
 * When p equals q the rejection branch is unreachable; the function then returns p, never NaN.
 */
export function residualDistribution(p: ArrayLike<number>, q: ArrayLike<number>): number[] {
  if (p.length !== q.length) throw new Error(`distributions differ in length: ${p.length} vs ${q.length}`);
  const residual = Array.from(p, (pi, i) => Math.max(0, pi - q[i]));
  const mass = residual.reduce((a, b) => a + b, 0);
  if (mass <= 0) return Array.from(p);
  return residual.map((r) => r / mass);
}

/** Returns the expected per-token acceptance Σ min(p, q) = 1 − TVD(p, q). */
export function expectedAcceptance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += Math.min(p[i], q[i]);
  return sum;
}

/** Draws an index from `probabilities` with a uniform number `u` in [0, 1). */
export function sampleIndex(probabilities: ArrayLike<number>, u: number): number {
  let cumulative = 0;
  for (let i = 0; i < probabilities.length; i++) {
    cumulative += probabilities[i];
    if (u < cumulative) return i;
  }
  // Rounding can leave the total just under 1; fall back to the last non-zero entry.
  for (let i = probabilities.length - 1; i >= 0; i--) if (probabilities[i] > 0) return i;
  throw new Error("cannot sample from a distribution with no mass");
}
