import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { TransformerLM } from "../lib/model.ts";
import { logProbs } from "../lib/divergence.ts";
import { train } from "../lib/train.ts";
import {
  buildReferenceLoss,
  buildTeacherCache,
  loadCachedArray,
  lossPositions,
  saveCachedArray,
  TeacherCache,
  topKError,
  TopKTeacherCache,
} from "../lib/teacher_cache.ts";
import { divergence } from "../lib/divergence.ts";
import { gsm8kExamples, setUpBackend } from "./helpers.ts";

await setUpBackend();

const { tokenizer, examples } = await gsm8kExamples(12, 300, 320);
const base = { vocabSize: tokenizer.vocabSize, contextLength: 320, heads: 2, layers: 1 };
const padId = tokenizer.eosId;

Deno.test("teacher cache equals a direct forward", () => {
  const target = TransformerLM.create({ ...base, width: 32, mlpWidth: 64, seed: 5 });
  const cache = buildTeacherCache(target, examples, { padId, microBatchSize: 5 });
  const v = tokenizer.vocabSize;
  for (const index of [0, 7, 11]) {
    const example = examples[index];
    const inputs = Array.from(example.ids.slice(0, -1));
    const direct = tf.tidy(() =>
      logProbs(target.forward(tf.tensor2d(inputs, [1, inputs.length], "int32"))).dataSync() as Float32Array
    );
    const batch = cache.teacherBatch([index], inputs.length);
    const { start, end } = lossPositions(example);
    let maxDiff = 0;
    for (let i = start * v; i < end * v; i++) maxDiff = Math.max(maxDiff, Math.abs(direct[i] - batch[i]));
    assert.ok(maxDiff < 1e-4, `example ${index}: max difference ${maxDiff}`);
    assert.equal(batch[0], Math.fround(-Math.log(v)), "positions without loss hold a uniform row");
  }
  target.dispose();
});

Deno.test("cached AdaSPEC training equals uncached", async () => {
  const target = TransformerLM.create({ ...base, width: 32, mlpWidth: 64, seed: 5 });
  const reference = TransformerLM.create({ ...base, width: 16, mlpWidth: 32, seed: 6 });
  const cache = buildTeacherCache(target, examples, { padId, microBatchSize: 4 });
  buildReferenceLoss(cache, reference, "fkl", { padId, microBatchSize: 4 });
  const config = { epochs: 2, batchSize: 4, learningRate: 3e-3, seed: 9 };
  const objective = {
    kind: "adaspec" as const,
    teacher: target,
    reference,
    divergence: "fkl" as const,
    k: 0.4,
    normalisation: "valid" as const,
    mode: "top" as const,
  };
  const runs: { summary: { epochLoss: number[] }; weights: Float32Array }[] = [];
  for (const useCache of [false, true]) {
    const draft = TransformerLM.create({ ...base, width: 16, mlpWidth: 32, seed: 7 });
    const summary = await train(draft, examples, useCache ? { ...objective, cache } : objective, config, {
      label: "adaspec",
      padId,
      log: () => {},
    });
    runs.push({ summary, weights: draft.params.get("h0.fc.w")!.dataSync() as Float32Array });
    draft.dispose();
  }
  for (let epoch = 0; epoch < 2; epoch++) {
    const [a, b] = runs.map((r) => r.summary.epochLoss[epoch]);
    assert.ok(Math.abs(a - b) < 1e-4, `epoch ${epoch + 1} loss ${a} uncached vs ${b} cached`);
  }
  let maxDiff = 0;
  runs[0].weights.forEach((w, i) => (maxDiff = Math.max(maxDiff, Math.abs(w - runs[1].weights[i]))));
  assert.ok(maxDiff < 1e-4, `weights differ by ${maxDiff}`);
  target.dispose();
  reference.dispose();
});

Deno.test("cache file checked on load", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/cache.safetensors`;
  const values = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i));
  await saveCachedArray(path, "key-a", values, [20, 3]);
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  assert.deepEqual(await loadCachedArray(path, "key-a", 60, log), values);
  assert.equal(await loadCachedArray(path, "key-b", 60, log), null);
  assert.match(logs.at(-1)!, /built for another configuration/);
  assert.equal(await loadCachedArray(path, "key-a", 61, log), null);
  assert.match(logs.at(-1)!, /expected 61/);
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 3] ^= 0x40;
  await Deno.writeFile(path, bytes);
  assert.equal(await loadCachedArray(path, "key-a", 60, log), null);
  assert.match(logs.at(-1)!, /checksum/);
  assert.equal(await loadCachedArray(`${dir}/missing`, "key-a", 60, log), null);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cache for other examples rejected", async () => {
  const target = TransformerLM.create({ ...base, width: 32, mlpWidth: 64, seed: 5 });
  const cache = buildTeacherCache(target, examples.slice(0, 6), { padId, microBatchSize: 3 });
  const draft = TransformerLM.create({ ...base, width: 16, mlpWidth: 32, seed: 7 });
  await assert.rejects(
    train(draft, examples, { kind: "kd", teacher: target, divergence: "fkl", cache }, {
      epochs: 1,
      batchSize: 4,
      learningRate: 1e-3,
      seed: 1,
    }, { label: "kd", padId, log: () => {} }),
    /teacher cache covers 6 examples but training uses 12/,
  );
  target.dispose();
  draft.dispose();
});

Deno.test("top-K cache keeps the K largest log-probs and spreads the rest evenly", () => {
  // One example with prompt length 1 and three tokens: loss positions 0 and 1, vocabulary 4.
  const example = { ids: new Int32Array([1, 2, 3]), promptLength: 1, truncated: false };
  const rows = [[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]];
  const full = new TeacherCache([example], 4, Float32Array.from(rows.flat().map(Math.log)));
  const approx = TopKTeacherCache.fromFull(full, 2);
  assert.deepEqual([...approx.ids], [0, 1, 3, 2]);
  // Row 1 keeps 0.5 and 0.3; the others share 0.2, 0.1 each. Row 2 keeps 0.4 and 0.3; the others get 0.15.
  const batch = approx.teacherBatch([0], 2);
  const expected = [[0.5, 0.3, 0.1, 0.1], [0.15, 0.15, 0.3, 0.4]].flat();
  expected.forEach((p, i) => assert.ok(Math.abs(batch[i] - Math.log(p)) < 1e-6, `entry ${i}: ${batch[i]}`));
  const error = topKError(full, approx);
  const kl1 = 0.15 * Math.log(0.15 / 0.1) + 0.05 * Math.log(0.05 / 0.1);
  const kl2 = 0.1 * Math.log(0.1 / 0.15) + 0.2 * Math.log(0.2 / 0.15);
  assert.ok(Math.abs(error.meanKl - (kl1 + kl2) / 2) < 1e-6, `mean KL ${error.meanKl}`);
  assert.ok(Math.abs(error.maxKl - Math.max(kl1, kl2)) < 1e-6);
  assert.ok(Math.abs(error.meanOutsideMass - 0.25) < 1e-6);
  // Two positions × (2 ids + 2 log-probs) × 4 bytes, plus 4 bytes of rest per position.
  assert.equal(approx.byteLength, 2 * 4 * 4 + 2 * 4);
  assert.throws(
    () => TopKTeacherCache.fromFull(full, 5),
    /invalid top-K 5: use an integer from 1 to the vocabulary size 4/,
  );
});

Deno.test("top-K error on a real target equals the divergence computed by tensors", () => {
  const target = TransformerLM.create({ ...base, width: 32, mlpWidth: 64, seed: 9 });
  const full = buildTeacherCache(target, examples.slice(0, 4), { padId, microBatchSize: 4 });
  const v = tokenizer.vocabSize;
  for (const k of [16, v]) {
    const approx = TopKTeacherCache.fromFull(full, k);
    const error = topKError(full, approx);
    const indices = [0, 1, 2, 3];
    const length = Math.max(...examples.slice(0, 4).map((e) => e.ids.length - 1));
    const exact = full.teacherBatch(indices, length);
    const rebuilt = approx.teacherBatch(indices, length);
    // Rows without a loss are uniform in both and add zero; average over the loss positions only.
    const kl = tf.tidy(() =>
      divergence(
        "fkl",
        tf.tensor2d(exact, [indices.length * length, v]),
        tf.tensor2d(rebuilt, [indices.length * length, v]),
      )
        .sum().dataSync()[0]
    );
    assert.ok(Math.abs(kl / full.positions - error.meanKl) < 1e-4, `k ${k}: ${kl / full.positions} vs ${error.meanKl}`);
    // Every rebuilt row is a distribution.
    let sum = 0;
    for (let i = 0; i < v; i++) sum += Math.exp(rebuilt[(length - 1) * v + i]);
    assert.ok(Math.abs(sum - 1) < 1e-4, `row sums to ${sum}`);
    if (k === v) assert.equal(error.meanKl, 0, "keeping every token is exact");
  }
  target.dispose();
});
