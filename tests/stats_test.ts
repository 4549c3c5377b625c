import assert from "node:assert/strict";
import { meanInterval, pairedBootstrap, pooledAlpha } from "../lib/stats.ts";

Deno.test("pooled alpha sums counts", () => {
  assert.equal(pooledAlpha([{ accepted: 3, rejected: 1 }, { accepted: 1, rejected: 5 }]), 0.4);
  assert.equal(pooledAlpha([]), 0);
});

Deno.test("paired bootstrap of identical drafts", () => {
  const counts = Array.from({ length: 30 }, (_, i) => ({ accepted: i % 7, rejected: 1 + (i % 3) }));
  const result = pairedBootstrap(counts, counts, { samples: 500, seed: 3 });
  assert.equal(result.difference, 0);
  assert.equal(result.low, 0);
  assert.equal(result.high, 0);
  assert.equal(result.pValue, 1);
});

Deno.test("paired bootstrap of a clear gain", () => {
  // B accepts two more tokens than A on every prompt of 10 proposals: +0.2 everywhere.
  const a = Array.from({ length: 40 }, (_, i) => ({ accepted: 3 + (i % 4), rejected: 7 - (i % 4) }));
  const b = a.map((c) => ({ accepted: c.accepted + 2, rejected: c.rejected - 2 }));
  const result = pairedBootstrap(a, b, { samples: 1000, seed: 5 });
  assert.ok(Math.abs(result.difference - 0.2) < 1e-12, `difference ${result.difference}`);
  assert.ok(Math.abs(result.low - 0.2) < 1e-12, `every resample differs by 0.2, low ${result.low}`);
  assert.ok(Math.abs(result.high - 0.2) < 1e-12, `high ${result.high}`);
  assert.equal(result.pValue, 0);
});

Deno.test("paired bootstrap interval covers a noisy zero", () => {
  const a = Array.from({ length: 50 }, (_, i) => ({ accepted: (i * 7) % 11, rejected: 10 - ((i * 7) % 11) }));
  const b = a.map((c, i) => (i % 2 ? { accepted: c.rejected, rejected: c.accepted } : c));
  const result = pairedBootstrap(a, b, { samples: 2000, seed: 1 });
  assert.ok(result.low < result.difference, `low ${result.low} below the estimate ${result.difference}`);
  assert.ok(result.high > result.difference, `high ${result.high} above the estimate`);
  assert.ok(result.pValue > 0.05, `p ${result.pValue}`);
});

Deno.test("paired bootstrap rejects unpaired input", () => {
  assert.throws(() => pairedBootstrap([{ accepted: 1, rejected: 1 }], []), /same prompts: 1 vs 0/);
});

Deno.test("mean interval by hand", () => {
  const { mean, halfWidth, n } = meanInterval([0.6, 0.7, 0.8, 0.7]);
  // sd = √(0.02 / 3), t(0.975, 3) = 3.182.
  assert.ok(Math.abs(mean - 0.7) < 1e-12);
  assert.ok(Math.abs(halfWidth - 3.182 * Math.sqrt(0.02 / 3) / 2) < 1e-12, `half-width ${halfWidth}`);
  assert.equal(n, 4);
  assert.equal(meanInterval([0.5]).halfWidth, 0);
  assert.throws(() => meanInterval([]), /no values/);
});
