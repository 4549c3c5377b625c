import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
import { assertSameTokenizer, BpeTokenizer, type TokenizerJSON } from "../lib/tokenizer.ts";

/** Directory with the shared data sets: $ADASPEC_DATA_DIR, else ../shared/data from the repository root. */
function dataDir(): string {
  const fromEnv = Deno.env.get("ADASPEC_DATA_DIR");
  if (fromEnv) return fromEnv;
  const repoRoot = fileURLToPath(new URL("..", import.meta.url));
  return resolve(repoRoot, "..", "shared", "data");
}

interface GsmRecord {
  question: string;
  answer: string;
}

async function readGsm8kTrain(): Promise<GsmRecord[]> {
  const path = join(dataDir(), "gsm8k", "train.jsonl");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(
      `GSM8K training data not found at ${path}. Set ADASPEC_DATA_DIR to the directory ` +
        `that contains gsm8k/train.jsonl.`,
      { cause: error },
    );
  }
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

/** Token id of a single byte, computed from the documented layout: id 0 is special, bytes follow. */
function byteId(char: string): number {
  return char.charCodeAt(0) + 1;
}

/** Reference FNV-1a 64 with BigInt, independent of the library's 32-bit-halves version. */
function referenceFnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = BigInt.asUintN(64, hash * 0x100000001b3n);
  }
  return hash.toString(16).padStart(16, "0");
}

const HAND_WRITTEN = [
  "",
  "a",
  "Hello, world!",
  "line one\nline two\r\nline three\r\n",
  "   leading and trailing spaces   ",
  "tabs\tand\u00a0no-break spaces",
  "emoji 🐈‍⬛ 👩🏽‍💻 🇯🇵",
  "中文字符和日本語のテキスト、한국어",
  "combining e\u0301 and precomposed é",
  "numbers 1234567890 and 3.14159, $1,000",
  "<|endoftext|> written as text",
  "don't I'll we've they're",
  "\u0000 control \u001f chars \u007f",
  "x".repeat(2000),
];

Deno.test("round trip hand-written strings", () => {
  const tokenizer = BpeTokenizer.train(HAND_WRITTEN, { vocabSize: 400 });
  for (const text of HAND_WRITTEN) {
    assert.equal(
      tokenizer.decode(tokenizer.encode(text)),
      text,
      `round trip of ${JSON.stringify(text)}`,
    );
  }
  // A tokenizer with no merges must also round trip, since it is the byte-level base case.
  const bytesOnly = BpeTokenizer.train([], { vocabSize: 257 });
  for (const text of HAND_WRITTEN) {
    assert.equal(
      bytesOnly.decode(bytesOnly.encode(text)),
      text,
      `bytes-only round trip of ${JSON.stringify(text)}`,
    );
  }
});

Deno.test("encode of empty string is empty", () => {
  const tokenizer = BpeTokenizer.train(["abc"], { vocabSize: 260 });
  assert.deepEqual(tokenizer.encode(""), []);
  assert.equal(tokenizer.decode([]), "");
});

Deno.test("round trip GSM8K records", async () => {
  const records = await readGsm8kTrain();
  assert.equal(
    records.length,
    7473,
    "GSM8K train split should have 7473 records",
  );
  const texts = records.map((record) => `${record.question}\n${record.answer}`);

  const tokenizer = BpeTokenizer.train(texts, { vocabSize: 1024 });
  assert.equal(tokenizer.vocabSize, 1024);

  const fresh = BpeTokenizer.fromJSON(tokenizer.toJSON());
  const encoded = texts.map((text) => fresh.encode(text));

  let tokenCount = 0;
  let byteCount = 0;
  for (let i = 0; i < texts.length; i++) {
    assert.equal(
      fresh.decode(encoded[i]),
      texts[i],
      `round trip of GSM8K record ${i}`,
    );
    assert.ok(
      !encoded[i].includes(fresh.eosId),
      `record ${i} must not encode to <|endoftext|>`,
    );
    tokenCount += encoded[i].length;
    byteCount += new TextEncoder().encode(texts[i]).length;
  }
  // With 767 merges English text should compress well below one token per byte.
  assert.ok(
    tokenCount < byteCount * 0.6,
    `${tokenCount} tokens for ${byteCount} bytes`,
  );
});

Deno.test("train hand-checked merges", () => {
  // Chunks: "aaab" and " aaab", once each. Pair counts count overlaps:
  // (a,a)=4, (a,b)=2, (" ",a)=1, so (a,a) -> 257 first. Then (a,b)=2 and
  // (257,a)=2 tie; the lower left id a wins, so (a,b) -> 258. Then
  // (257,258)=2 -> 259, then (" ",259)=1 -> 260, and no pair is left.
  const a = byteId("a");
  const b = byteId("b");
  const space = byteId(" ");
  const expectedMerges = [[a, a], [a, b], [257, 258], [space, 259]];

  const tokenizer = BpeTokenizer.train(["aaab aaab"], { vocabSize: 1000 });
  assert.deepEqual(tokenizer.toJSON().merges, expectedMerges);
  assert.equal(tokenizer.vocabSize, 261, "training stops when no pair is left");
  assert.deepEqual(tokenizer.encode("aaab aaab"), [259, 260]);
  assert.deepEqual(tokenizer.encode("aaaa"), [257, 257]);
  assert.deepEqual(tokenizer.encode("aaa"), [257, a]);
  assert.deepEqual(tokenizer.encode("ba"), [b, a]);

  const limited = BpeTokenizer.train(["aaab aaab"], { vocabSize: 259 });
  assert.deepEqual(limited.toJSON().merges, expectedMerges.slice(0, 2));
  assert.equal(limited.vocabSize, 259);
  assert.deepEqual(limited.encode(" aaab"), [space, 257, 258]);
});

Deno.test("merges never cross chunk boundaries", () => {
  const tokenizer = BpeTokenizer.train(["ab, ab, ab, 12 12 12"], {
    vocabSize: 400,
  });
  for (let id = 257; id < tokenizer.vocabSize; id++) {
    const text = tokenizer.decode([id]);
    assert.ok(
      !/\p{L}[ ,]/u.test(text),
      `token ${JSON.stringify(text)} joins a letter with what follows`,
    );
    assert.ok(
      !/\d\d/.test(text),
      `token ${JSON.stringify(text)} joins two digits`,
    );
  }
  // Digits are split one by one, so each digit (with its optional leading space) is its own token.
  assert.equal(tokenizer.encode(" 12").length, 2);
});

Deno.test("train is deterministic", () => {
  const texts = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
  ];
  const first = BpeTokenizer.train(texts, { vocabSize: 300 });
  const second = BpeTokenizer.train(texts, { vocabSize: 300 });
  assert.deepEqual(second.toJSON(), first.toJSON());
  assert.equal(second.fingerprint(), first.fingerprint());
  assert.match(first.fingerprint(), /^[0-9a-f]{16}$/);

  const other = BpeTokenizer.train(["something else entirely"], {
    vocabSize: 300,
  });
  assert.notEqual(other.fingerprint(), first.fingerprint());
});

Deno.test("fingerprint is FNV-1a 64 of the JSON", () => {
  assert.equal(
    referenceFnv1a64(""),
    "cbf29ce484222325",
    "reference hash of empty input",
  );
  assert.equal(
    referenceFnv1a64("a"),
    "af63dc4c8601ec8c",
    "reference hash of 'a'",
  );
  const tokenizer = BpeTokenizer.train(["hello hello world"], {
    vocabSize: 280,
  });
  assert.equal(
    tokenizer.fingerprint(),
    referenceFnv1a64(JSON.stringify(tokenizer.toJSON())),
  );
});

Deno.test("decode special and invalid bytes", () => {
  const tokenizer = BpeTokenizer.train(["abc"], { vocabSize: 258 });
  assert.equal(tokenizer.eosId, 0);
  assert.equal(tokenizer.decode([tokenizer.eosId]), "<|endoftext|>");
  assert.equal(
    tokenizer.decode([byteId("h"), byteId("i"), 0]),
    "hi<|endoftext|>",
  );
  // 0xFF never occurs in UTF-8, and 0xE2 0x82 is a truncated 3-byte sequence.
  assert.equal(tokenizer.decode([0xff + 1]), "\uFFFD");
  assert.equal(tokenizer.decode([0xe2 + 1, 0x82 + 1, byteId("x")]), "\uFFFDx");
  assert.equal(
    tokenizer.decode(new Int32Array([byteId("o"), byteId("k")])),
    "ok",
  );

  assert.throws(
    () => tokenizer.decode([tokenizer.vocabSize]),
    /Invalid token id 258.*0 to 257/,
  );
  assert.throws(() => tokenizer.decode([-1]), /Invalid token id -1/);
  assert.throws(() => tokenizer.decode([1.5]), /Invalid token id 1.5/);
});

Deno.test("tokenText shows readable tokens", () => {
  const tokenizer = BpeTokenizer.train([" the the the"], { vocabSize: 260 });
  assert.equal(tokenizer.tokenText(0), "<|endoftext|>");
  assert.equal(tokenizer.tokenText(byteId("a")), "a");
  assert.equal(tokenizer.tokenText(byteId(" ")), "␣");
  assert.equal(tokenizer.tokenText(byteId("\n")), "\\n");
  assert.equal(tokenizer.tokenText(0xe2 + 1), "<0xE2>");
  const theId = tokenizer.encode(" the");
  assert.equal(theId.length, 1, "3 merges suffice for ' the'");
  assert.equal(tokenizer.tokenText(theId[0]), "␣the");
  assert.throws(() => tokenizer.tokenText(9999), /Invalid token id 9999/);
});

Deno.test("save and load keep encodings", async () => {
  const texts = [
    "Natalia sold clips to 48 of her friends",
    "How many clips did Natalia sell?",
  ];
  const tokenizer = BpeTokenizer.train(texts, { vocabSize: 320 });
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "tokenizer.json");
    await tokenizer.save(path);
    const loaded = await BpeTokenizer.load(path);

    assert.equal(loaded.vocabSize, tokenizer.vocabSize);
    assert.equal(loaded.fingerprint(), tokenizer.fingerprint());
    for (const text of [...texts, "unseen text 🐈 with 12345"]) {
      assert.deepEqual(
        loaded.encode(text),
        tokenizer.encode(text),
        `encoding of ${JSON.stringify(text)}`,
      );
    }
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry.name);
    assert.deepEqual(
      entries,
      ["tokenizer.json"],
      "no temporary file is left behind",
    );

    // Saving again over an existing file replaces it.
    const smaller = BpeTokenizer.train(texts, { vocabSize: 260 });
    await smaller.save(path);
    assert.equal((await BpeTokenizer.load(path)).vocabSize, 260);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load reports missing and malformed files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "missing.json");
    await assert.rejects(BpeTokenizer.load(missing), (error: Error) => {
      assert.ok(error.message.includes(missing), error.message);
      assert.match(error.message, /not found/);
      return true;
    });

    const notJson = join(dir, "broken.json");
    await Deno.writeTextFile(notJson, "{ not json");
    await assert.rejects(BpeTokenizer.load(notJson), (error: Error) => {
      assert.ok(error.message.includes(notJson), error.message);
      assert.match(error.message, /not valid JSON/);
      return true;
    });

    const wrongField = join(dir, "wrong.json");
    await Deno.writeTextFile(wrongField, JSON.stringify({ type: "wordpiece" }));
    await assert.rejects(
      BpeTokenizer.load(wrongField),
      /wrong\.json is invalid: .*field "type"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fromJSON rejects malformed fields", () => {
  const valid = BpeTokenizer.train(["aaab aaab"], { vocabSize: 261 }).toJSON();
  assert.equal(BpeTokenizer.fromJSON(structuredClone(valid)).vocabSize, 261);

  const cases: [string, unknown, RegExp][] = [
    ["null", null, /field "\(root\)" must be an object/],
    ["array", [], /field "\(root\)" must be an object, got an array/],
    [
      "type",
      { ...valid, type: "wordpiece" },
      /field "type" must be "byte-bpe", got "wordpiece"/,
    ],
    ["version", { ...valid, version: 2 }, /field "version" must be 1, got 2/],
    [
      "pretokenizer",
      { ...valid, pretokenizer: "other" },
      /field "pretokenizer"/,
    ],
    [
      "specialTokens",
      { ...valid, specialTokens: ["<pad>"] },
      /field "specialTokens"/,
    ],
    [
      "merges missing",
      { ...valid, merges: undefined },
      /field "merges" must be an array/,
    ],
    [
      "merge not a pair",
      { ...valid, merges: [[98, 98, 98]] },
      /field "merges\[0\]" must be a pair/,
    ],
    [
      "merge with string id",
      { ...valid, merges: [[98, "a"]] },
      /field "merges\[0\]"/,
    ],
    [
      "merge of special id",
      { ...valid, merges: [[0, 98]] },
      /field "merges\[0\]"/,
    ],
    [
      "forward reference",
      { ...valid, merges: [[98, 98], [258, 98]] },
      /field "merges\[1\]" .*from 1 to 257/,
    ],
    [
      "duplicate merge",
      { ...valid, merges: [[98, 98], [98, 98]] },
      /field "merges\[1\]" repeats/,
    ],
    [
      "vocabSize mismatch",
      { ...valid, vocabSize: 300 },
      /field "vocabSize" must be 261 .*got 300/,
    ],
  ];
  for (const [label, json, pattern] of cases) {
    assert.throws(() => BpeTokenizer.fromJSON(json), pattern, label);
    assert.throws(
      () => BpeTokenizer.fromJSON(json),
      /BpeTokenizer\.save/,
      `${label}: message gives the fix`,
    );
  }
});

Deno.test("assertSameTokenizer compares tokenizers", () => {
  const texts = HAND_WRITTEN;
  const base = BpeTokenizer.train(texts, { vocabSize: 270 });
  assert.equal(base.vocabSize, 270, "texts have enough pairs for 270 tokens");
  const copy = BpeTokenizer.fromJSON(
    JSON.parse(JSON.stringify(base.toJSON())) as TokenizerJSON,
  );
  assert.doesNotThrow(() =>
    assertSameTokenizer({ name: "teacher", tokenizer: base }, {
      name: "draft",
      tokenizer: copy,
    })
  );

  const larger = BpeTokenizer.train(texts, { vocabSize: 275 });
  assert.equal(larger.vocabSize, 275, "texts have enough pairs for 275 tokens");
  assert.throws(
    () =>
      assertSameTokenizer({ name: "teacher", tokenizer: base }, {
        name: "draft",
        tokenizer: larger,
      }),
    (error: Error) => {
      for (
        const part of [
          "teacher",
          "draft",
          "270",
          "275",
          base.fingerprint(),
          larger.fingerprint(),
        ]
      ) {
        assert.ok(
          error.message.includes(part),
          `message names ${part}: ${error.message}`,
        );
      }
      assert.match(
        error.message,
        /train all models of an experiment with one tokenizer/i,
      );
      return true;
    },
  );

  // Same size, different merges: only the fingerprint differs.
  const sameSize = BpeTokenizer.train(
    ["a dog and a log on the hog ".repeat(5)],
    { vocabSize: 270 },
  );
  assert.equal(sameSize.vocabSize, base.vocabSize);
  assert.throws(
    () =>
      assertSameTokenizer({ name: "teacher", tokenizer: base }, {
        name: "draft",
        tokenizer: sameSize,
      }),
    /Tokenizer mismatch/,
  );
});

Deno.test("train rejects too small vocabSize", () => {
  for (const vocabSize of [0, 1, 256, -5, 257.5, Number.NaN, 2 ** 24 + 1]) {
    assert.throws(
      () => BpeTokenizer.train(["abc"], { vocabSize }),
      /Invalid vocabSize .*integer from 257 .* to 16777216/,
      `vocabSize ${vocabSize}`,
    );
  }
  assert.equal(BpeTokenizer.train(["abc"], { vocabSize: 257 }).vocabSize, 257);
});
