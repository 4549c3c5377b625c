import assert from "node:assert/strict";
import {
  batchOrder,
  formatGsm8k,
  GSM8K_INSTRUCTION,
  loadGsm8k,
  makeBatch,
  readJsonLines,
  resolveDataDir,
  tokenizeExamples,
} from "../lib/data.ts";
import { BpeTokenizer } from "../lib/tokenizer.ts";
import { dataDir } from "./helpers.ts";

Deno.test("GSM8K format replaces the answer marker", () => {
  const example = formatGsm8k({ question: "Q?", answer: "Step.\n#### 72" });
  assert.equal(example.prompt, "Q?" + GSM8K_INSTRUCTION);
  assert.equal(example.response, "Step.\nThe final answer is:  72");
});

Deno.test("GSM8K loader reads real splits", async () => {
  const train = await loadGsm8k(dataDir(), "train");
  const test = await loadGsm8k(dataDir(), "test");
  assert.equal(train.length, 7473);
  assert.equal(test.length, 1319);
  assert.ok(train[0].prompt.startsWith("Natalia sold clips"));
  assert.ok(train[0].response.endsWith("The final answer is:  72"));
});

Deno.test("loss mask covers response and EOS only", () => {
  const tokenizer = BpeTokenizer.train(["hello world answer"], { vocabSize: 270 });
  const prompt = tokenizer.encode("hello ");
  const response = tokenizer.encode("world");
  const { examples } = tokenizeExamples([{ prompt: "hello ", response: "world" }], tokenizer, 100);
  const [example] = examples;
  assert.deepEqual([...example.ids], [...prompt, ...response, tokenizer.eosId]);
  assert.equal(example.promptLength, prompt.length);
  const batch = makeBatch(
    [example, { ids: Int32Array.from([7, 8]), promptLength: 1, truncated: false }],
    tokenizer.eosId,
  );
  const n = example.ids.length - 1;
  assert.equal(batch.length, n);
  // Label t is token t + 1; response labels start at t = promptLength − 1.
  for (let t = 0; t < n; t++) {
    assert.equal(batch.lossMask[t], t + 1 >= prompt.length ? 1 : 0, `row 0 position ${t}`);
    assert.equal(batch.labels[t], example.ids[t + 1]);
  }
  // Row 1 has one real input (7 → 8) and padding after it.
  assert.equal(batch.lossMask[n], 1);
  assert.equal(batch.keyMask[n], 1);
  for (let t = 1; t < n; t++) {
    assert.equal(batch.lossMask[n + t], 0, `padding position ${t} has no loss`);
    assert.equal(batch.keyMask[n + t], 0, `padding position ${t} is masked`);
  }
  assert.equal(batch.validCount, response.length + 1 + 1);
});

Deno.test("truncation cuts to max length and counts", () => {
  // No merges: one token per byte, so the lengths are known by hand.
  const tokenizer = BpeTokenizer.train(["abc"], { vocabSize: 257 });
  const { examples, truncated } = tokenizeExamples(
    [{ prompt: "ab", response: "cabcabc" }, { prompt: "a", response: "b" }],
    tokenizer,
    5,
  );
  assert.equal(truncated, 1);
  assert.equal(examples[0].ids.length, 5);
  assert.equal(examples[0].truncated, true);
  assert.equal(examples[1].truncated, false);
});

Deno.test("malformed JSON Lines name file line and field", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/bad.jsonl`;
  await Deno.writeTextFile(path, '{"question": "a", "answer": "b"}\n{"question": "c"}\n');
  await assert.rejects(readJsonLines(path, ["question", "answer"]), new RegExp(`${path}:2: field "answer" is missing`));
  await Deno.writeTextFile(path, '{"question": "a", "answer": "b"}\n{oops\n');
  await assert.rejects(readJsonLines(path, ["question"]), new RegExp(`${path}:2: invalid JSON`));
  await Deno.writeTextFile(path, "\n");
  await assert.rejects(readJsonLines(path, ["question"]), /no records/);
  await assert.rejects(loadGsm8k(dir, "train"), /data file not found: .*gsm8k\/train.jsonl/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("missing data folder explains the fix", () => {
  const saved = Deno.env.get("ADASPEC_DATA_DIR");
  Deno.env.delete("ADASPEC_DATA_DIR");
  try {
    assert.throws(() => resolveDataDir(undefined), /pass --data-dir DIR or set ADASPEC_DATA_DIR/);
    assert.equal(resolveDataDir("/x"), "/x");
  } finally {
    if (saved !== undefined) Deno.env.set("ADASPEC_DATA_DIR", saved);
  }
});

Deno.test("batch order is seeded and complete", () => {
  const a = batchOrder(10, 4, 42, 0);
  const b = batchOrder(10, 4, 42, 0);
  const c = batchOrder(10, 4, 42, 1);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(a.map((x) => x.length), [4, 4, 2]);
  assert.deepEqual(a.flat().sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
