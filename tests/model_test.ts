import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { countParameters, type ModelConfig, TransformerLM } from "../lib/model.ts";
import { loadModel, saveModel } from "../lib/checkpoint.ts";
import { readValues } from "../lib/ops.ts";
import { scaledModel, setUpBackend } from "./helpers.ts";

await setUpBackend();

const config: ModelConfig = { vocabSize: 50, contextLength: 24, layers: 2, width: 16, heads: 2, mlpWidth: 32, seed: 3 };
const tokens = [5, 17, 3, 44, 12, 9, 30, 1, 8, 22, 41, 7];

function fullLogits(model: TransformerLM, ids: number[]): Float32Array {
  return readValues(() => model.forward(tf.tensor2d(ids, [1, ids.length], "int32")));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "arrays differ in length");
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

Deno.test("KV cache one token at a time matches full forward", () => {
  const model = scaledModel(config, 10);
  const full = fullLogits(model, tokens);
  const steps: number[] = [];
  let cache = null;
  for (const token of tokens) {
    const out = model.decode([[token]], cache);
    cache = out.cache;
    steps.push(...out.logits);
  }
  cache!.dispose();
  assert.ok(maxAbsDiff(full, steps) < 1e-3, `max difference ${maxAbsDiff(full, steps)}`);
  model.dispose();
});

Deno.test("KV cache in chunks and after truncation matches", () => {
  const model = scaledModel(config, 10);
  const full = fullLogits(model, tokens);
  const first = model.decode([tokens.slice(0, 5)], null);
  // Feed three wrong tokens, roll back, then feed the true continuation, as speculative decoding does.
  const wrong = model.decode([[1, 2, 3]], first.cache);
  wrong.cache.truncate(5);
  assert.equal(wrong.cache.length, 5);
  const rest = model.decode([tokens.slice(5)], wrong.cache);
  rest.cache.dispose();
  const combined = [...first.logits, ...rest.logits];
  assert.ok(maxAbsDiff(full, combined) < 1e-3, `max difference ${maxAbsDiff(full, combined)}`);
  model.dispose();
});

Deno.test("padding mask hides padded keys", () => {
  const model = scaledModel(config, 10);
  const short = fullLogits(model, tokens.slice(0, 6));
  // Left padding: with the keys masked, the pad token ids cannot change the real positions.
  const leftPadded = (pad: number[]) =>
    tf.tidy(() => {
      const ids = tf.tensor2d([[...pad, ...tokens.slice(0, 6)]], [1, 8], "int32");
      const keyMask = tf.tensor2d([[0, 0, 1, 1, 1, 1, 1, 1]], [1, 8]);
      return model.forward(ids, keyMask).dataSync().slice(2 * config.vocabSize);
    });
  const padA = leftPadded([0, 0]);
  const padB = leftPadded([9, 13]);
  assert.ok(maxAbsDiff(padA, padB) < 1e-5, `pad ids leaked into real positions: ${maxAbsDiff(padA, padB)}`);
  // Right padding leaves the real positions' logits unchanged.
  const rightPadded = tf.tidy(() => {
    const ids = tf.tensor2d([[...tokens.slice(0, 6), 0, 0]], [1, 8], "int32");
    const keyMask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 0, 0]], [1, 8]);
    return model.forward(ids, keyMask).dataSync().slice(0, 6 * config.vocabSize);
  });
  assert.ok(maxAbsDiff(short, rightPadded) < 1e-4, `max difference ${maxAbsDiff(short, rightPadded)}`);
  model.dispose();
});

Deno.test("batched forward equals per-sequence forward", () => {
  const model = scaledModel(config, 10);
  const a = tokens.slice(0, 6);
  const b = tokens.slice(6, 12);
  const batched = readValues(() => model.forward(tf.tensor2d([a, b], [2, 6], "int32")));
  const separate = [...fullLogits(model, a), ...fullLogits(model, b)];
  assert.ok(maxAbsDiff(batched, separate) < 1e-4, `max difference ${maxAbsDiff(batched, separate)}`);
  model.dispose();
});

Deno.test("parameter count by hand", () => {
  // wte 50·16 + wpe 24·16 + 2 blocks × (4·16 + 16·48 + 48 + 16·16 + 16 + 16·32 + 32 + 32·16 + 16) + lnf 2·16
  const block = 4 * 16 + 16 * 48 + 48 + 16 * 16 + 16 + 16 * 32 + 32 + 32 * 16 + 16;
  const expected = 50 * 16 + 24 * 16 + 2 * block + 2 * 16;
  assert.equal(countParameters(config), expected);
  const model = TransformerLM.create(config);
  const actual = model.variables().reduce((sum, v) => sum + v.size, 0);
  assert.equal(actual, expected);
  model.dispose();
});

Deno.test("same seed gives same weights", () => {
  const a = TransformerLM.create(config);
  const b = TransformerLM.create(config);
  const c = TransformerLM.create({ ...config, seed: 4 });
  assert.deepEqual(a.params.get("h0.attn.w")!.dataSync(), b.params.get("h0.attn.w")!.dataSync());
  assert.notDeepEqual(a.params.get("h0.attn.w")!.dataSync(), c.params.get("h0.attn.w")!.dataSync());
  [a, b, c].forEach((m) => m.dispose());
});

Deno.test("checkpoint save and load round trip", async () => {
  const dir = await Deno.makeTempDir();
  const model = scaledModel(config, 3);
  await saveModel(model, dir);
  const loaded = await loadModel(dir);
  assert.deepEqual(loaded.config, config);
  assert.equal(maxAbsDiff(fullLogits(model, tokens), fullLogits(loaded, tokens)), 0);
  const header = new Uint8Array(await Deno.readFile(`${dir}/model.safetensors`));
  const headerLength = Number(new DataView(header.buffer).getBigUint64(0, true));
  const meta = JSON.parse(new TextDecoder().decode(header.subarray(8, 8 + headerLength)));
  assert.deepEqual(meta["wte"].shape, [50, 16], "safetensors header shape of wte");
  assert.equal(meta["wte"].dtype, "F32");
  model.dispose();
  loaded.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoint with wrong config rejected", async () => {
  const dir = await Deno.makeTempDir();
  const model = TransformerLM.create(config);
  await saveModel(model, dir);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, width: 32, mlpWidth: 64 }));
  await assert.rejects(loadModel(dir), /has shape \[50,16\] but the config needs \[50,32\]/);
  await assert.rejects(loadModel(`${dir}/missing`), /checkpoint not found/);
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("invalid model config rejected", () => {
  assert.throws(() => TransformerLM.create({ ...config, heads: 3 }), /width 16 is not divisible by heads 3/);
  assert.throws(() => TransformerLM.create({ ...config, layers: 0 }), /layers = 0/);
});

Deno.test("decoding past context length rejected", () => {
  const model = TransformerLM.create(config);
  assert.throws(() => model.decode([Array(25).fill(1)], null), /past the context length: 0 cached \+ 25 new > 24/);
  model.dispose();
});
