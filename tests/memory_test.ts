import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { TransformerLM } from "../lib/model.ts";
import { train } from "../lib/train.ts";
import { buildReferenceLoss, buildTeacherCache } from "../lib/teacher_cache.ts";
import { greedyDecode, speculativeDecode } from "../lib/speculative.ts";
import { exactAcceptance } from "../lib/exact_alpha.ts";
import { gsm8kExamples, setUpBackend } from "./helpers.ts";

await setUpBackend();

// Short sequences keep a few hundred steps fast; the leak check does not depend on length.
const { texts, tokenizer, examples } = await gsm8kExamples(24, 280, 48);
const base = { vocabSize: tokenizer.vocabSize, contextLength: 64, heads: 2, layers: 1 };
const padId = tokenizer.eosId;

function tensorCounts(): { tensors: number; bytes: number } {
  const memory = tf.memory();
  return { tensors: memory.numTensors, bytes: memory.numBytes };
}

Deno.test("tensor count flat over training", async () => {
  const target = TransformerLM.create({ ...base, width: 16, mlpWidth: 32, seed: 1 });
  const reference = TransformerLM.create({ ...base, width: 8, mlpWidth: 16, seed: 2 });
  const draft = TransformerLM.create({ ...base, width: 8, mlpWidth: 16, seed: 3 });
  const cache = buildTeacherCache(target, examples, { padId, microBatchSize: 4 });
  buildReferenceLoss(cache, reference, "fkl", { padId, microBatchSize: 4 });
  const objectives = [
    { kind: "sft" as const },
    { kind: "kd" as const, teacher: target, divergence: "fkl" as const },
    {
      kind: "adaspec" as const,
      teacher: target,
      reference,
      divergence: "fkl" as const,
      k: 0.4,
      normalisation: "valid" as const,
      mode: "top" as const,
    },
    {
      kind: "adaspec" as const,
      teacher: target,
      reference,
      divergence: "fkl" as const,
      k: 0.4,
      normalisation: "valid" as const,
      mode: "top" as const,
      cache,
    },
  ];
  for (const objective of objectives) {
    // A short warm-up fills the model's per-shape mask cache, which is bounded, not a leak.
    await train(
      draft,
      examples,
      objective,
      { epochs: 1, batchSize: 8, microBatchSize: 4, learningRate: 1e-3, seed: 2 },
      {
        label: "warm-up",
        padId,
        log: () => {},
      },
    );
    const before = tensorCounts();
    const samples: { step: number; tensors: number; bytes: number }[] = [];
    await train(draft, examples, objective, {
      epochs: 100,
      batchSize: 8,
      microBatchSize: 4,
      learningRate: 1e-3,
      seed: 1,
      maxSteps: 200,
    }, {
      label: objective.kind,
      padId,
      log: () => {},
      onStep: (step) => {
        if (step === 10 || step === 200) samples.push({ step, ...tensorCounts() });
      },
    });
    const label = `${objective.kind}${"cache" in objective ? " with cache" : ""}`;
    assert.equal(samples.length, 2, `${label}: both samples taken`);
    assert.equal(samples[1].tensors, samples[0].tensors, `${label}: tensors at step 10 and 200`);
    assert.equal(samples[1].bytes, samples[0].bytes, `${label}: bytes at step 10 and 200`);
    assert.equal(tensorCounts().tensors, before.tensors, `${label}: optimizer state freed after training`);
  }
  [target, reference, draft].forEach((m) => m.dispose());
});

Deno.test("tensor count flat over decoding", () => {
  const target = TransformerLM.create({ ...base, width: 16, mlpWidth: 32, seed: 1 });
  const draft = TransformerLM.create({ ...base, width: 8, mlpWidth: 16, seed: 3 });
  const prompt = tokenizer.encode(texts[0].prompt).slice(0, 16);
  const decodeAll = () => {
    const continuation = greedyDecode(target, prompt, 24, padId).tokens;
    speculativeDecode(target, draft, prompt, { gamma: 4, maxNewTokens: 24, eosId: padId });
    exactAcceptance(draft, prompt, continuation, {
      gamma: 4,
      maxNewTokens: 24,
      eosId: padId,
      targetContextLength: 64,
    });
  };
  decodeAll();
  const before = tensorCounts();
  for (let i = 0; i < 30; i++) decodeAll();
  const after = tensorCounts();
  assert.equal(after.tensors, before.tensors, "tensors after 30 rounds of decoding");
  assert.equal(after.bytes, before.bytes, "bytes after 30 rounds of decoding");
  target.dispose();
  draft.dispose();
});
