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
} from "../lib/teacher_cache.ts";
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
