import assert from "node:assert/strict";
import type { ModelConfig } from "../lib/model.ts";
import { greedyDecode, speculativeDecode } from "../lib/speculative.ts";
import { exactAcceptance } from "../lib/exact_alpha.ts";
import { greedyDecodeBatch } from "../lib/batch_decode.ts";
import { evaluateDrafts } from "../lib/evaluate.ts";
import { scaledModel, setUpBackend } from "./helpers.ts";

await setUpBackend();

const targetConfig: ModelConfig = {
  vocabSize: 40,
  contextLength: 64,
  layers: 2,
  width: 32,
  heads: 4,
  mlpWidth: 64,
  seed: 11,
};
const draftConfig: ModelConfig = {
  vocabSize: 40,
  contextLength: 64,
  layers: 1,
  width: 16,
  heads: 2,
  mlpWidth: 32,
  seed: 12,
};
const prompts = [[5, 9, 2], [17], [33, 33, 33, 1, 8, 21], [2, 4, 6, 8, 10, 12, 14]];

Deno.test("speculative output equals target greedy", () => {
  const target = scaledModel(targetConfig, 25);
  const draft = scaledModel(draftConfig, 25);
  for (const gamma of [1, 3, 4, 7]) {
    for (const [i, prompt] of prompts.entries()) {
      // EOS 0 may or may not occur; both paths must agree either way.
      const plain = greedyDecode(target, prompt, 30, 0);
      const spec = speculativeDecode(target, draft, prompt, { gamma, maxNewTokens: 30, eosId: 0 });
      assert.deepEqual(spec.tokens, plain.tokens, `prompt ${i}, γ ${gamma}`);
      assert.ok(spec.tokens.length <= 30, "budget respected");
    }
  }
  target.dispose();
  draft.dispose();
});

Deno.test("draft equal to target accepts everything", () => {
  const target = scaledModel(targetConfig, 25);
  const plain = greedyDecode(target, prompts[0], 20, -1);
  const spec = speculativeDecode(target, target, prompts[0], { gamma: 4, maxNewTokens: 20, eosId: -1 });
  assert.deepEqual(spec.tokens, plain.tokens);
  assert.equal(spec.rejected, 0, "no rejection when draft = target");
  // 20 tokens in blocks of 4 proposals + 1 bonus: 4 blocks emit 20 tokens, 16 proposals accepted.
  assert.equal(spec.accepted, 16);
  assert.equal(spec.targetCalls, 4);
  target.dispose();
});

Deno.test("last block proposes only the remaining budget", () => {
  const target = scaledModel(targetConfig, 25);
  // Budget 7 with γ = 4 and a perfect draft: block 1 emits 4 + bonus = 5, block 2 proposes 2 and
  // emits no bonus because the budget is reached.
  const spec = speculativeDecode(target, target, prompts[1], { gamma: 4, maxNewTokens: 7, eosId: -1 });
  assert.equal(spec.tokens.length, 7);
  assert.equal(spec.accepted, 6);
  assert.equal(spec.targetCalls, 2);
  target.dispose();
});

Deno.test("counts agree with a recount from outputs", () => {
  const target = scaledModel(targetConfig, 25);
  const draft = scaledModel(draftConfig, 25);
  const gamma = 3;
  const prompt = prompts[2];
  const spec = speculativeDecode(target, draft, prompt, { gamma, maxNewTokens: 24, eosId: -1 });
  // Recount by walking blocks over the target's output with the draft's own greedy proposals.
  const output = greedyDecode(target, prompt, 24, -1).tokens;
  let accepted = 0, rejected = 0, position = 0;
  while (position < output.length) {
    const lookahead = Math.min(gamma, output.length - position);
    const context = [...prompt, ...output.slice(0, position)];
    const proposals = greedyDecode(draft, context, lookahead, -1).tokens;
    let i = 0;
    while (i < lookahead && proposals[i] === output[position + i]) i++;
    accepted += i;
    if (i < lookahead) {
      rejected++;
      position += i + 1;
    } else {
      position += i + 1;
    }
  }
  assert.ok(spec.rejected > 0, "the random draft should be rejected somewhere");
  assert.equal(spec.accepted, accepted, "accepted");
  assert.equal(spec.rejected, rejected, "rejected");
  target.dispose();
  draft.dispose();
});

Deno.test("mismatched vocabularies rejected", () => {
  const target = scaledModel(targetConfig, 1);
  const draft = scaledModel({ ...draftConfig, vocabSize: 41 }, 1);
  assert.throws(
    () => speculativeDecode(target, draft, [1], { gamma: 4, maxNewTokens: 4, eosId: 0 }),
    /vocabularies differ \(40 vs 41\)/,
  );
  assert.throws(() => speculativeDecode(target, target, [1], { gamma: 0, maxNewTokens: 4, eosId: 0 }), /γ = 0/);
  assert.throws(() => greedyDecode(target, [], 4, 0), /empty prompt/);
  target.dispose();
  draft.dispose();
});

Deno.test("exact α matches the decoding loop", () => {
  const target = scaledModel(targetConfig, 25);
  const draft = scaledModel(draftConfig, 25);
  let total = 0;
  for (const gamma of [1, 4, 6]) {
    for (const [i, prompt] of prompts.entries()) {
      for (const [eosId, maxNewTokens] of [[0, 30], [-1, 17], [3, 40]]) {
        const spec = speculativeDecode(target, draft, prompt, { gamma, maxNewTokens, eosId });
        const continuation = greedyDecode(target, prompt, maxNewTokens, eosId).tokens;
        const counts = exactAcceptance(draft, prompt, continuation, {
          gamma,
          maxNewTokens,
          eosId,
          targetContextLength: targetConfig.contextLength,
        });
        const where = `prompt ${i}, γ ${gamma}, EOS ${eosId}, budget ${maxNewTokens}`;
        assert.equal(counts.accepted, spec.accepted, `accepted, ${where}`);
        assert.equal(counts.rejected, spec.rejected, `rejected, ${where}`);
        assert.equal(counts.targetCalls, spec.targetCalls, `target calls, ${where}`);
        total += spec.accepted + spec.rejected;
      }
    }
  }
  assert.ok(total > 100, `enough proposals compared (${total})`);
  target.dispose();
  draft.dispose();
});

Deno.test("exact α with draft equal to target", () => {
  const target = scaledModel(targetConfig, 25);
  const continuation = greedyDecode(target, prompts[3], 23, -1).tokens;
  const counts = exactAcceptance(target, prompts[3], continuation, {
    gamma: 4,
    maxNewTokens: 23,
    eosId: -1,
    targetContextLength: targetConfig.contextLength,
  });
  const spec = speculativeDecode(target, target, prompts[3], { gamma: 4, maxNewTokens: 23, eosId: -1 });
  // 23 tokens: four blocks of 4 + bonus (20 tokens, 16 accepted), then 3 proposals and no bonus.
  assert.equal(counts.accepted, 19);
  assert.equal(counts.rejected, 0);
  assert.equal(spec.accepted, 19);
  target.dispose();
});

Deno.test("batched greedy equals one prompt at a time", () => {
  const target = scaledModel(targetConfig, 25);
  for (const batchSize of [1, 2, 4]) {
    for (const [eosId, maxNewTokens] of [[0, 20], [-1, 12], [5, 60]]) {
      const batched = greedyDecodeBatch(target, prompts, { maxNewTokens, eosId, batchSize });
      prompts.forEach((prompt, i) => {
        const single = greedyDecode(target, prompt, maxNewTokens, eosId).tokens;
        assert.deepEqual(batched[i], single, `prompt ${i}, batch ${batchSize}, EOS ${eosId}, budget ${maxNewTokens}`);
      });
    }
  }
  assert.throws(
    () => greedyDecodeBatch(target, [[1], []], { maxNewTokens: 4, eosId: 0, batchSize: 2 }),
    /prompt 1 is empty/,
  );
  target.dispose();
});

Deno.test("evaluation with fewer timed prompts keeps α", () => {
  const target = scaledModel(targetConfig, 25);
  const draft = scaledModel(draftConfig, 25);
  const options = { gamma: 3, maxNewTokens: 20, eosId: 0, log: () => {} };
  const all = evaluateDrafts(target, [{ name: "d", model: draft }], prompts, options);
  const some = evaluateDrafts(target, [{ name: "d", model: draft }], prompts, { ...options, timingPrompts: 2 });
  const stored = evaluateDrafts(target, [{ name: "d", model: draft }], prompts, {
    ...options,
    timingPrompts: 1,
    continuations: all.continuations,
  });
  assert.equal(all.timedPrompts, 4);
  assert.equal(some.timedPrompts, 2);
  assert.deepEqual(some.continuations, all.continuations, "batched continuations equal the loop's");
  for (const result of [some, stored]) {
    assert.equal(result.drafts[0].accepted, all.drafts[0].accepted, "accepted");
    assert.equal(result.drafts[0].rejected, all.drafts[0].rejected, "rejected");
  }
  assert.equal(stored.storeMismatches, 0);
  assert.equal(all.drafts[0].mismatches, 0, "lossless on timed prompts");
  assert.equal(all.drafts[0].exactCountMismatches, 0, "teacher-forced counts equal the loop's");
  assert.equal(some.records.filter((r) => r.identical === null).length, 2, "untimed prompts have no loop result");
  target.dispose();
  draft.dispose();
});
