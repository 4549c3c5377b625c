/**
 * Known-answer tests. Every expected number below comes from an independent calculation, not from
 * running this library.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { tf } from "../lib/tf.ts";
import { forwardKl, jensenShannon, logProbs, reverseKl } from "../lib/divergence.ts";
import { linearQuantile, lossDivisor, selectTokens } from "../lib/selection.ts";
import { adaspecLoss, crossEntropyRows, maskedMean } from "../lib/objective.ts";
import {
  acceptanceRate,
  blockEfficiency,
  countAcceptance,
  greedyDecode,
  speculativeDecode,
} from "../lib/speculative.ts";
import { acceptProbability, expectedAcceptance, residualDistribution } from "../lib/sampling.ts";
import { makeBatch, type TokenExample } from "../lib/data.ts";
import { type ModelConfig, parameterShapes, TransformerLM } from "../lib/model.ts";
import { Rng } from "../lib/rng.ts";

await initBackend("wasm");

function assertClose(actual: number, expected: number, tolerance: number, message: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${message}: expected ${expected} ± ${tolerance}, got ${actual}`,
  );
}

/** Returns one divergence value per row, for teacher and student logits given as plain arrays. */
function rowValues(
  kind: (logP: tf.Tensor2D, logQ: tf.Tensor2D) => tf.Tensor1D,
  teacherLogits: number[][],
  studentLogits: number[][],
): number[] {
  return tf.tidy(() => {
    const rows = kind(logProbs(tf.tensor2d(teacherLogits)), logProbs(tf.tensor2d(studentLogits)));
    return Array.from(rows.dataSync());
  });
}

// Selection worked example: vocabulary 4, six valid tokens, k = 0.4.
const TARGET_LOGITS = [[2, 0, 0, -1], [0, 3, 0, 0], [1, 1, 0, 0], [0, 0, 4, 0], [-1, 0, 0, 2], [0.5, 0.5, 0.5, 0.5]];
const DRAFT_LOGITS = [[0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0], [2, 0, 0, 0]];
const REFERENCE_LOGITS = [[1, 0, 0, 0], [0, 2, 0, 0], [1, 1, 0, 0], [0, 0, 1.5, 0], [0, 0, 0, 2], [1, 0, 0, 0]];
const EXPECTED_L_DRAFT = [0.585238, 0.344559, 0.231059, 0.533923, 0.585238, 0.454459];
const EXPECTED_L_REF = [0.185299, 0.071595, 0.000000, 0.328756, 0.025070, 0.107374];
const EXPECTED_DELTA = [0.399939, 0.272964, 0.231059, 0.205167, 0.560168, 0.347085];
const SELECTION_K = 0.4;
const TABLE_TOLERANCE = 1e-5;

function selectionScores(): { draft: number[]; reference: number[]; delta: number[] } {
  const draft = rowValues(forwardKl, TARGET_LOGITS, DRAFT_LOGITS);
  const reference = rowValues(forwardKl, TARGET_LOGITS, REFERENCE_LOGITS);
  const delta = draft.map((value, i) => value - reference[i]);
  return { draft, reference, delta };
}

Deno.test("selection example L_draft per row", () => {
  const { draft } = selectionScores();
  EXPECTED_L_DRAFT.forEach((expected, i) => {
    assertClose(draft[i], expected, TABLE_TOLERANCE, `L_draft of row ${i + 1}`);
  });
});

Deno.test("selection example L_ref per row", () => {
  const { reference } = selectionScores();
  EXPECTED_L_REF.forEach((expected, i) => {
    assertClose(reference[i], expected, TABLE_TOLERANCE, `L_ref of row ${i + 1}`);
  });
});

Deno.test("selection example ΔL per row", () => {
  const { delta } = selectionScores();
  EXPECTED_DELTA.forEach((expected, i) => {
    assertClose(delta[i], expected, TABLE_TOLERANCE, `ΔL of row ${i + 1}`);
  });
});

Deno.test("selection example threshold at pos 3", () => {
  const { delta } = selectionScores();
  const sorted = [...delta].sort((a, b) => a - b);
  // pos = (1 − k)(n − 1) = 0.6 · 5 = 3 exactly, so the threshold is the fourth smallest score.
  const threshold = linearQuantile(delta, 1 - SELECTION_K);
  assert.equal(threshold, sorted[3], "threshold is sorted ΔL[3] with no interpolation");
  assertClose(threshold, 0.347085, TABLE_TOLERANCE, "threshold");

  const selection = selectTokens(delta, SELECTION_K);
  assert.equal(selection.threshold, threshold, "selectTokens uses the same quantile");
});

Deno.test("selection example kept set {1, 5, 6}", () => {
  const { delta } = selectionScores();
  const selection = selectTokens(delta, SELECTION_K);
  assert.deepEqual(Array.from(selection.keep), [1, 0, 0, 0, 1, 1], "rows 1, 5 and 6 are kept");
  assert.equal(selection.keptCount, 3, "kept count");
  assertClose(selection.keptFraction, 0.5, 1e-12, "kept fraction");
});

Deno.test("selection example loss normalisations", () => {
  const { draft, delta } = selectionScores();
  const selection = selectTokens(delta, SELECTION_K);
  const keptSum = draft.reduce((sum, value, i) => sum + value * selection.keep[i], 0);
  assertClose(keptSum, 1.624935, TABLE_TOLERANCE, "Σ kept L_draft");

  const validCount = draft.length;
  const byValid = keptSum / lossDivisor("valid", validCount, selection.keptCount, SELECTION_K);
  const byKept = keptSum / lossDivisor("kept", validCount, selection.keptCount, SELECTION_K);
  const byKValid = keptSum / lossDivisor("k-valid", validCount, selection.keptCount, SELECTION_K);
  assertClose(byValid, 0.270822, TABLE_TOLERANCE, "Σ / N_valid");
  assertClose(byKept, 0.541645, TABLE_TOLERANCE, "Σ / N_kept");
  assertClose(byKValid, 0.677056, TABLE_TOLERANCE, "Σ / (k · N_valid)");
});

Deno.test("adaspecLoss on the worked example", () => {
  // Two extra padding rows with random logits: masked out, they must change nothing.
  const padding = [[9, -3, 0, 1], [-2, 7, 5, 0]];
  const expected: Record<string, number> = { valid: 0.270822, kept: 0.541645, "k-valid": 0.677056 };
  for (const normalisation of ["valid", "kept", "k-valid"] as const) {
    const { loss, keptFraction } = tf.tidy(() => {
      const result = adaspecLoss(
        logProbs(tf.tensor2d([...TARGET_LOGITS, ...padding])),
        logProbs(tf.tensor2d([...DRAFT_LOGITS, ...padding])),
        logProbs(tf.tensor2d([...REFERENCE_LOGITS, [0, 0, 0, 0], [1, 1, 1, 1]])),
        [1, 1, 1, 1, 1, 1, 0, 0],
        { divergence: "fkl", k: SELECTION_K, normalisation, mode: "top" },
      );
      return { loss: result.loss.dataSync()[0], keptFraction: result.keptFraction };
    });
    assertClose(loss, expected[normalisation], TABLE_TOLERANCE, `loss with ${normalisation} normalisation`);
    assert.equal(keptFraction, 0.5, "3 of 6 valid tokens kept");
  }
});

Deno.test("adaspecLoss gradient only on kept rows", () => {
  const draftLogits = tf.tensor2d(DRAFT_LOGITS);
  const grad = tf.grad((logits: tf.Tensor) =>
    adaspecLoss(
      logProbs(tf.tensor2d(TARGET_LOGITS)),
      logProbs(logits as tf.Tensor2D),
      logProbs(tf.tensor2d(REFERENCE_LOGITS)),
      [1, 1, 1, 1, 1, 1],
      { divergence: "fkl", k: SELECTION_K, normalisation: "valid", mode: "top" },
    ).loss
  )(draftLogits);
  const values = grad.arraySync() as number[][];
  // Rows 1, 5 and 6 (indices 0, 4, 5) are kept; the others get exactly zero gradient.
  for (const row of [1, 2, 3]) {
    assert.ok(values[row].every((v) => v === 0), `row ${row + 1} is not kept, gradient ${values[row]}`);
  }
  for (const row of [0, 4, 5]) {
    assert.ok(values[row].some((v) => Math.abs(v) > 1e-4), `row ${row + 1} is kept, gradient ${values[row]}`);
  }
});

Deno.test("quantile with distinct values keeps 3 of 6", () => {
  const scores = [0.3, 0.1, 0.6, 0.2, 0.5, 0.4];
  const selection = selectTokens(scores, 0.4);
  assert.equal(selection.keptCount, 3, "k · n = 2.4 still keeps 3 tokens");
  assertClose(selection.keptFraction, 0.5, 1e-12, "kept fraction actually achieved");
  assert.deepEqual(Array.from(selection.keep), [0, 0, 1, 0, 1, 1], "the three largest scores are kept");
});

/** Returns one divergence of two probability vectors, passed as log-probabilities. */
function divergenceOf(
  kind: (logP: tf.Tensor2D, logQ: tf.Tensor2D) => tf.Tensor1D,
  p: number[],
  q: number[],
): number {
  return tf.tidy(() => kind(tf.log(tf.tensor2d([p])), tf.log(tf.tensor2d([q]))).dataSync()[0]);
}

Deno.test("forwardKl direction KL(p‖q)", () => {
  const kl = divergenceOf(forwardKl, [0.5, 0.5], [0.9, 0.1]);
  assertClose(kl, 0.5108, 5e-5, "KL(p‖q) with p = [0.5, 0.5], q = [0.9, 0.1]");
});

Deno.test("reverseKl direction KL(q‖p)", () => {
  const kl = divergenceOf(reverseKl, [0.5, 0.5], [0.9, 0.1]);
  assertClose(kl, 0.3681, 5e-5, "KL(q‖p) with p = [0.5, 0.5], q = [0.9, 0.1]");
});

Deno.test("jensenShannon mixes probabilities", () => {
  const jsd = tf.tidy(() =>
    jensenShannon(tf.log(tf.tensor2d([[0.01, 0.99]])), tf.log(tf.tensor2d([[0.99, 0.01]])), 0.5).dataSync()[0]
  );
  assertClose(jsd, 0.6371, 5e-5, "JSD(0.5) of [0.01, 0.99] and [0.99, 0.01]");
  assert.ok(Math.abs(jsd - 2.2516) > 0.1, `JSD ${jsd} matches the value from mixing log-probabilities`);
});

Deno.test("forwardKl zero teacher mass at −∞", () => {
  const kl = tf.tidy(() => {
    const logP = tf.log(tf.tensor2d([[0.5, 0.5, 0]])) as tf.Tensor2D;
    const logQ = logProbs(tf.tensor2d([[0, 0, -Infinity]]));
    return forwardKl(logP, logQ).dataSync()[0];
  });
  assert.ok(Number.isFinite(kl), `KL is not finite: ${kl}`);
  assertClose(kl, 0, 1e-7, "KL of equal distributions with a shared zero");
});

Deno.test("forwardKl gradient finite at −∞", () => {
  const gradient = tf.tidy(() => {
    const logP = tf.log(tf.tensor2d([[0.5, 0.5, 0]])) as tf.Tensor2D;
    const studentLogits = tf.tensor2d([[0, 0, -Infinity]]);
    const grad = tf.grad((logits: tf.Tensor) => tf.sum(forwardKl(logP, logProbs(logits as tf.Tensor2D))));
    return Array.from(grad(studentLogits).dataSync());
  });
  gradient.forEach((value, i) => {
    assert.ok(Number.isFinite(value), `gradient entry ${i} is not finite: ${value}`);
  });
  // q equals p on the support, so the KL is at its minimum and the gradient is zero.
  gradient.forEach((value, i) => {
    assertClose(value, 0, 1e-6, `gradient entry ${i}`);
  });
});

Deno.test("maskedMean all labels masked", () => {
  const loss = tf.tidy(() => {
    const values = tf.tensor1d([1.5, 2, 0.3]);
    const mask = tf.zeros([3]) as tf.Tensor1D;
    return maskedMean(values, mask, 0).dataSync()[0];
  });
  assert.ok(!Number.isNaN(loss), "loss of an all-masked batch is NaN");
  assert.equal(loss, 0, "loss of an all-masked batch");
});

// Two rows. Inputs are tokens 0 … n−2 and labels tokens 1 … n−1, so the short row has 2 prompt,
// 2 response and 3 padding label positions. EOS is id 0 and also pads.
const PAD_ID = 0;
const SHORT_EXAMPLE: TokenExample = { ids: Int32Array.from([4, 5, 6, 7, 0]), promptLength: 3, truncated: false };
const LONG_EXAMPLE: TokenExample = {
  ids: Int32Array.from([4, 5, 6, 1, 2, 3, 7, 0]),
  promptLength: 3,
  truncated: false,
};
const INVARIANCE_VOCAB = 8;

/** Returns batch logits [size·length, V], redrawn at the positions where `lossMask` is 0 when `noiseSeed` is given. */
function invarianceLogits(lossMask: Float32Array, seed: number, noiseSeed?: number): tf.Tensor2D {
  const base = new Rng(seed);
  const noise = new Rng(noiseSeed ?? 0);
  const data = new Float32Array(lossMask.length * INVARIANCE_VOCAB);
  for (let row = 0; row < lossMask.length; row++) {
    for (let v = 0; v < INVARIANCE_VOCAB; v++) {
      const value = base.normal() * 2;
      const masked = noiseSeed !== undefined && lossMask[row] === 0;
      data[row * INVARIANCE_VOCAB + v] = masked ? noise.normal() * 20 : value;
    }
  }
  return tf.tensor2d(data, [lossMask.length, INVARIANCE_VOCAB]);
}

Deno.test("makeBatch mask for invariance case", () => {
  const batch = makeBatch([SHORT_EXAMPLE, LONG_EXAMPLE], PAD_ID);
  assert.equal(batch.length, 7, "batch length is the longest sequence minus one");
  assert.deepEqual(Array.from(batch.lossMask.subarray(0, 7)), [0, 0, 1, 1, 0, 0, 0], "short row loss mask");
  assert.deepEqual(Array.from(batch.keyMask.subarray(0, 7)), [1, 1, 1, 1, 0, 0, 0], "short row key mask");
  assert.deepEqual(Array.from(batch.lossMask.subarray(7)), [0, 0, 1, 1, 1, 1, 1], "long row loss mask");
  assert.equal(batch.validCount, 7, "valid count");
});

Deno.test("SFT loss ignores prompt and padding", () => {
  const batch = makeBatch([SHORT_EXAMPLE, LONG_EXAMPLE], PAD_ID);
  const sftLoss = (noiseSeed?: number) =>
    tf.tidy(() => {
      const logits = invarianceLogits(batch.lossMask, 11, noiseSeed);
      const rows = crossEntropyRows(logits, tf.tensor1d(batch.labels, "int32"));
      return maskedMean(rows, tf.tensor1d(batch.lossMask), batch.validCount).dataSync()[0];
    });
  const original = sftLoss();
  const randomised = sftLoss(99);
  assert.ok(Number.isFinite(original), `SFT loss ${original} is not finite`);
  assert.ok(original > 0, `SFT loss ${original} is not positive`);
  assert.ok(Math.abs(original - randomised) < 1e-7, `SFT loss changed from ${original} to ${randomised}`);
});

Deno.test("KD loss ignores prompt and padding", () => {
  const batch = makeBatch([SHORT_EXAMPLE, LONG_EXAMPLE], PAD_ID);
  const kdLoss = (noiseSeed?: number) =>
    tf.tidy(() => {
      const teacher = invarianceLogits(batch.lossMask, 21, noiseSeed === undefined ? undefined : noiseSeed + 1);
      const student = invarianceLogits(batch.lossMask, 22, noiseSeed);
      const rows = forwardKl(logProbs(teacher), logProbs(student));
      return maskedMean(rows, tf.tensor1d(batch.lossMask), batch.validCount).dataSync()[0];
    });
  const original = kdLoss();
  const randomised = kdLoss(77);
  assert.ok(Number.isFinite(original), `KD loss ${original} is not finite`);
  assert.ok(original > 0, `KD loss ${original} is not positive`);
  assert.ok(Math.abs(original - randomised) < 1e-7, `KD loss changed from ${original} to ${randomised}`);
});

Deno.test("logProbs temperature scaling", () => {
  const klAt = (temperature: number) =>
    tf.tidy(() =>
      forwardKl(logProbs(tf.tensor2d([[2, 0, 1]]), temperature), logProbs(tf.tensor2d([[1, 2, 0.5]]), temperature))
        .dataSync()[0]
    );
  const atOne = klAt(1);
  const atTwo = klAt(2);
  assertClose(atOne, 0.66431, 1e-5, "KL(teacher‖student) at T = 1");
  assertClose(atTwo, 0.19528, 1e-5, "KL(teacher‖student) at T = 2");
  assertClose(atTwo * 2 * 2, 0.78113, 2e-5, "KL at T = 2 scaled by T²");
});

Deno.test("countAcceptance after a rejection", () => {
  const counts = countAcceptance([[1, 0, 1], [1, 1, 1]]);
  assert.equal(counts.accepted, 4, "the 1 after a rejection does not count");
  assert.equal(counts.rejected, 1, "one rejection");
  assert.equal(counts.emitted, 6, "2 + 4 tokens emitted by the two target calls");
  assertClose(acceptanceRate(counts.accepted, counts.rejected), 0.8, 1e-12, "α");
});

Deno.test("sampling accept and residual", () => {
  const p = [0.6, 0.4, 0];
  const q = [0.2, 0.8, 0];
  assertClose(acceptProbability(p, q, 1), 0.5, 1e-12, "min(1, 0.4 / 0.8)");

  const residual = residualDistribution(p, q);
  assert.equal(residual.length, 3, "residual length");
  [1, 0, 0].forEach((expected, i) => {
    assertClose(residual[i], expected, 1e-12, `residual entry ${i}`);
  });

  assertClose(expectedAcceptance(p, q), 0.6, 1e-12, "Σ min(p, q)");
});

Deno.test("residualDistribution when p equals q", () => {
  const p = [0.25, 0.75, 0];
  const residual = residualDistribution(p, p);
  residual.forEach((value, i) => {
    assert.ok(!Number.isNaN(value), `residual entry ${i} is NaN`);
  });
  assert.deepEqual(residual, p, "falls back to p");
  assertClose(expectedAcceptance(p, p), 1, 1e-12, "identical distributions always accept");
});

Deno.test("blockEfficiency known values", () => {
  assertClose(blockEfficiency(0.6, 3), 2.176, 5e-4, "τ(α = 0.6, γ = 3)");
  assertClose(blockEfficiency(0.8, 5), 3.689, 5e-4, "τ(α = 0.8, γ = 5)");
});

// Decoding models whose greedy choice depends only on the query's absolute position. All block
// weights are zero, so the residual stream is wte[token] + wpe[position]. wte is the identity, and
// wpe[p] = 10 · e_{choice[p]}. The final LayerNorm (gain 1, bias 0) keeps choice[p] the largest
// entry, and the tied head reads entry j as the logit of token j.
const DECODE_CONFIG: ModelConfig = {
  vocabSize: 8,
  contextLength: 8,
  layers: 1,
  width: 8,
  heads: 2,
  mlpWidth: 8,
  seed: 0,
};
const EOS_ID = 0;
const PROMPT = [5];

function positionalModel(choices: number[]): TransformerLM {
  const { vocabSize, width, contextLength } = DECODE_CONFIG;
  assert.equal(choices.length, contextLength, "one choice per position");
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(DECODE_CONFIG)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name === "wte") {
      for (let token = 0; token < vocabSize; token++) data[token * width + token] = 1;
    } else if (name === "wpe") {
      choices.forEach((token, position) => (data[position * width + token] = 10));
    } else if (name.endsWith(".g")) {
      data.fill(1);
    }
    weights.set(name, { shape, data });
  }
  return TransformerLM.fromWeights(DECODE_CONFIG, weights);
}

Deno.test("greedy verification rejects first proposal", () => {
  const target = positionalModel(Array(8).fill(7));
  const draft = positionalModel(Array(8).fill(3));
  const result = speculativeDecode(target, draft, PROMPT, { gamma: 4, maxNewTokens: 1, eosId: EOS_ID });
  assert.deepEqual(result.tokens, [7], "the target's 7 replaces the draft's 3");
  assert.equal(result.accepted, 0, "accepted count");
  assert.equal(result.rejected, 1, "rejected count");
  assert.equal(result.targetCalls, 1, "target calls");
  target.dispose();
  draft.dispose();
});

Deno.test("greedy verification every block rejected", () => {
  const target = positionalModel(Array(8).fill(7));
  const draft = positionalModel(Array(8).fill(3));
  const result = speculativeDecode(target, draft, PROMPT, { gamma: 3, maxNewTokens: 4, eosId: EOS_ID });
  const greedy = greedyDecode(target, PROMPT, 4, EOS_ID);
  assert.deepEqual(greedy.tokens, [7, 7, 7, 7], "target greedy output");
  assert.deepEqual(result.tokens, greedy.tokens, "speculative output equals target greedy output");
  assert.equal(result.accepted, 0, "accepted count");
  assert.equal(result.rejected, 4, "one rejection per block");
  assert.equal(result.targetCalls, 4, "one target call per emitted token");
  target.dispose();
  draft.dispose();
});

Deno.test("speculativeDecode EOS accepted mid-block", () => {
  // Position 0 predicts a = 2, position 1 predicts EOS, position 2 predicts b = 3.
  const choices = [2, EOS_ID, 3, 4, 4, 4, 4, 4];
  const target = positionalModel(choices);
  const draft = positionalModel(choices);
  const greedy = greedyDecode(target, PROMPT, 6, EOS_ID);
  assert.deepEqual(greedy.tokens, [2, EOS_ID], "target greedy output stops at EOS");

  const result = speculativeDecode(target, draft, PROMPT, { gamma: 3, maxNewTokens: 6, eosId: EOS_ID });
  assert.equal(result.draftCalls, 3, "the draft proposed a, EOS and b in one block");
  assert.deepEqual(result.tokens, [2, EOS_ID], "output ends with a, EOS and drops b");
  assert.equal(result.accepted, 2, "a and EOS are accepted, b counts neither way");
  assert.equal(result.rejected, 0, "rejected count");
  assert.equal(result.targetCalls, 1, "target calls");
  target.dispose();
  draft.dispose();
});

Deno.test("speculativeDecode EOS as first proposal", () => {
  const target = positionalModel(Array(8).fill(EOS_ID));
  const draft = positionalModel(Array(8).fill(EOS_ID));
  const greedy = greedyDecode(target, PROMPT, 6, EOS_ID);
  assert.deepEqual(greedy.tokens, [EOS_ID], "target greedy output");

  const result = speculativeDecode(target, draft, PROMPT, { gamma: 4, maxNewTokens: 6, eosId: EOS_ID });
  assert.deepEqual(result.tokens, [EOS_ID], "nothing after the accepted EOS is emitted");
  assert.equal(result.accepted, 1, "accepted count");
  assert.equal(result.rejected, 0, "rejected count");
  target.dispose();
  draft.dispose();
});
