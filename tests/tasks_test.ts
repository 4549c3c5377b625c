import assert from "node:assert/strict";
import { parquetWriteBuffer } from "npm:hyparquet-writer@0.17.0";
import { formatGsm8k, GSM8K_INSTRUCTION, loadGsm8k } from "../lib/data.ts";
import { parseCsv, readRecords } from "../lib/formats.ts";
import { loadSyntheticSplits } from "../lib/synthetic.ts";
import {
  carveIndices,
  fitPrompt,
  loadTask,
  loadTaskSplits,
  SPLITS,
  TASK_NAMES,
  TEMPLATES,
  tokenizeTaskExamples,
} from "../lib/tasks.ts";
import { BpeTokenizer } from "../lib/tokenizer.ts";
import { dataDir } from "./helpers.ts";

const EXPECTED_COUNTS = {
  gsm8k: { train: 6726, validation: 747, test: 1319 },
  alpaca: { train: 4000, validation: 500, test: 500 },
  mbpp: { train: 374, validation: 90, test: 500 },
  cnn_dailymail: { train: 500, validation: 100, test: 100 },
  xsum: { train: 600, validation: 100, test: 500 },
};

for (const name of TASK_NAMES) {
  Deno.test(`${name} loader split sizes`, async () => {
    const splits = await loadTaskSplits(name, dataDir());
    for (const split of SPLITS) {
      assert.equal(splits[split].length, EXPECTED_COUNTS[name][split], `${name} ${split}`);
    }
  });
}

Deno.test("gsm8k loader matches formatGsm8k", async () => {
  const whole = await loadGsm8k(dataDir(), "train");
  const splits = await loadTaskSplits("gsm8k", dataDir());
  const test = await loadTask("gsm8k", dataDir(), "test");
  assert.deepEqual(test, await loadGsm8k(dataDir(), "test"));
  const carved = [...splits.train, ...splits.validation].map((e) => e.prompt + e.response).sort();
  assert.deepEqual(carved, whole.map((e) => e.prompt + e.response).sort());
  assert.deepEqual(splits.train[0], whole[0]);
});

Deno.test("real file counts match the source notes", async () => {
  // Alpaca has 5,000 records, CNN/DailyMail 700, XSUM 700 validation and 500 test.
  const alpaca = await loadTaskSplits("alpaca", dataDir());
  assert.equal(alpaca.train.length + alpaca.validation.length + alpaca.test.length, 5000);
  const cnn = await loadTaskSplits("cnn_dailymail", dataDir());
  assert.equal(cnn.train.length + cnn.validation.length + cnn.test.length, 700);
  const xsum = await loadTaskSplits("xsum", dataDir());
  assert.equal(xsum.train.length + xsum.validation.length, 700);
});

Deno.test("gsm8k template", () => {
  const example = TEMPLATES.gsm8k({ question: "Q?", answer: "2+2=<<2+2=4>>4\n#### 4" });
  assert.deepEqual(example, formatGsm8k({ question: "Q?", answer: "2+2=<<2+2=4>>4\n#### 4" }));
  assert.equal(example.prompt, "Q?" + GSM8K_INSTRUCTION);
  assert.equal(example.response, "2+2=<<2+2=4>>4\nThe final answer is:  4");
});

Deno.test("alpaca template with and without input", () => {
  const withInput = TEMPLATES.alpaca({ instruction: "Sort the list.", input: "3, 1", output: "1, 3" });
  assert.equal(withInput.prompt, "Instruction: Sort the list.\nInput: 3, 1\nResponse:\n");
  assert.equal(withInput.response, "1, 3");
  const noInput = TEMPLATES.alpaca({ instruction: "Say hi.", input: "", output: "Hi." });
  assert.equal(noInput.prompt, "Instruction: Say hi.\nResponse:\n");
  assert.equal(noInput.response, "Hi.");
});

Deno.test("mbpp template uses the first test", () => {
  const example = TEMPLATES.mbpp({
    text: "Write a function to double x.",
    code: "def double(x):\r\n    return 2 * x",
    test_list: ["assert double(2) == 4", "assert double(0) == 0"],
  });
  assert.equal(
    example.prompt,
    "Write a function to double x.\nYour code should pass this test:\nassert double(2) == 4\nCode:\n",
  );
  assert.equal(example.response, "def double(x):\n    return 2 * x");
});

Deno.test("cnn_dailymail template marks the article", () => {
  const example = TEMPLATES.cnn_dailymail({
    article: "A storm hit. Roads closed.",
    highlights: "Storm hit.\nRoads shut.",
  });
  assert.equal(
    example.prompt,
    "Article:\nA storm hit. Roads closed.\n\nSummarize the article above in a few sentences.\nHighlights:\n",
  );
  assert.equal(example.response, "Storm hit.\nRoads shut.");
  assert.equal(example.parts?.document, "A storm hit. Roads closed.");
  assert.equal(example.parts!.before + example.parts!.document + example.parts!.after, example.prompt);
});

Deno.test("xsum template marks the document", () => {
  const example = TEMPLATES.xsum({ document: "The mayor resigned.\nShe cited health.", summary: "Mayor quits." });
  assert.equal(
    example.prompt,
    "Document:\nThe mayor resigned.\nShe cited health.\n\nSummarize the document above in one sentence.\nSummary:\n",
  );
  assert.equal(example.response, "Mayor quits.");
  assert.equal(example.parts?.document, "The mayor resigned.\nShe cited health.");
});

Deno.test("carve is deterministic and disjoint", () => {
  const carve = { from: "train", seed: 42, take: { validation: 0.1, test: 0.1 }, rest: "train" as const };
  const first = carveIndices(1000, carve);
  const second = carveIndices(1000, carve);
  assert.deepEqual(first, second);
  assert.equal(first.validation!.length, 100);
  assert.equal(first.test!.length, 100);
  assert.equal(first.train!.length, 800);
  const all = [...first.train!, ...first.validation!, ...first.test!];
  assert.equal(new Set(all).size, 1000);
  const other = carveIndices(1000, { ...carve, seed: 7 });
  assert.notDeepEqual(other.test, first.test);
});

Deno.test("carved real splits are disjoint", async () => {
  for (const name of ["alpaca", "cnn_dailymail", "xsum"] as const) {
    const splits = await loadTaskSplits(name, dataDir());
    const key = (e: { prompt: string; response: string }) => e.prompt + "\u0000" + e.response;
    const train = new Set(splits.train.map(key));
    for (const example of splits.validation) assert.ok(!train.has(key(example)), `${name} validation in train`);
    if (name !== "xsum") {
      for (const example of splits.test) assert.ok(!train.has(key(example)), `${name} test in train`);
    }
  }
});

Deno.test("truncation cuts the document only", () => {
  const article = Array.from({ length: 200 }, (_, i) => `Sentence number ${i} of the article.`).join(" ");
  const example = TEMPLATES.cnn_dailymail({ article, highlights: "Two hundred sentences were written." });
  const tokenizer = BpeTokenizer.train([example.prompt + example.response], { vocabSize: 300 });
  const maxLength = 120;
  const { examples, truncated, documentsCut } = tokenizeTaskExamples([example], tokenizer, maxLength);
  assert.equal(documentsCut, 1);
  assert.equal(truncated, 0);
  const [tokens] = examples;
  assert.ok(tokens.ids.length <= maxLength);

  const response = tokenizer.encode(example.response);
  const ids = [...tokens.ids];
  assert.deepEqual(ids.slice(tokens.promptLength), [...response, tokenizer.eosId]);

  const prompt = tokenizer.decode(ids.slice(0, tokens.promptLength));
  assert.ok(prompt.startsWith("Article:\nSentence number 0 of the article."));
  assert.ok(prompt.endsWith(example.parts!.after));
  assert.ok(prompt.length < example.prompt.length);
});

Deno.test("fitPrompt keeps short prompts whole", () => {
  const example = TEMPLATES.xsum({ document: "Short text.", summary: "Short." });
  const tokenizer = BpeTokenizer.train([example.prompt], { vocabSize: 280 });
  const { example: fitted, cut } = fitPrompt(example, tokenizer, 1000);
  assert.equal(cut, false);
  assert.equal(fitted, example);
});

Deno.test("fitPrompt cuts at a word boundary", () => {
  const example = TEMPLATES.xsum({ document: "alpha beta gamma delta epsilon zeta eta theta", summary: "Greek." });
  const tokenizer = BpeTokenizer.train([example.prompt], { vocabSize: 280 });
  const full = tokenizer.encode(example.prompt).length;
  const { example: fitted, cut } = fitPrompt(example, tokenizer, full - 3);
  assert.equal(cut, true);
  assert.ok(tokenizer.encode(fitted.prompt).length <= full - 3);
  assert.ok(example.parts!.document.startsWith(fitted.parts!.document));
  assert.ok(!fitted.parts!.document.endsWith(" "));
  assert.ok(example.parts!.document[fitted.parts!.document.length] === " ");
});

Deno.test("synthetic splits are seeded", () => {
  for (const name of TASK_NAMES) {
    const first = loadSyntheticSplits(name, 3);
    const second = loadSyntheticSplits(name, 3);
    assert.deepEqual(first, second, name);
    for (const split of SPLITS) assert.ok(first[split].length > 0, `${name} ${split}`);
  }
  assert.notDeepEqual(loadSyntheticSplits("gsm8k", 3).train, loadSyntheticSplits("gsm8k", 4).train);
});

Deno.test("synthetic arithmetic answers are correct", () => {
  for (const example of loadSyntheticSplits("gsm8k").train.slice(0, 50)) {
    for (const [, left, right] of example.response.matchAll(/<<([^=]+)=(-?\d+)>>/g)) {
      assert.equal(String(eval(left)), right, left);
    }
  }
});

const FIELDS = [
  { name: "question", type: "string" as const },
  { name: "answer", type: "string" as const },
];

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "adaspec-formats-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("formats read the same records", async () => {
  await withTempDir(async (dir) => {
    const expected = [
      { question: 'Say "hi", twice', answer: "hi\nhi" },
      { question: "Plain", answer: "text" },
    ];
    await Deno.writeTextFile(`${dir}/a.jsonl`, expected.map((r) => JSON.stringify(r)).join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(expected));
    await Deno.writeTextFile(`${dir}/a.csv`, 'question,answer\r\n"Say ""hi"", twice","hi\nhi"\r\nPlain,text\r\n');
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: "question", data: expected.map((r) => r.question), type: "STRING" },
        { name: "answer", data: expected.map((r) => r.answer), type: "STRING" },
      ],
    });
    await Deno.writeFile(`${dir}/a.parquet`, new Uint8Array(parquet));
    for (const ext of ["jsonl", "json", "csv", "parquet"]) {
      assert.deepEqual(await readRecords(`${dir}/a.${ext}`, FIELDS), expected, ext);
    }
  });
});

Deno.test("field mapping renames columns", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/m.csv`, 'Problem,Solution,tests,id\nP,S,"[""assert 1""]",7\n');
    const records = await readRecords(`${dir}/m.csv`, [
      { name: "text", type: "string" },
      { name: "code", type: "string" },
      { name: "test_list", type: "string[]" },
      { name: "task_id", type: "integer" },
    ], { fieldMap: { text: "Problem", code: "Solution", test_list: "tests", task_id: "id" } });
    assert.deepEqual(records, [{ text: "P", code: "S", test_list: ["assert 1"], task_id: 7 }]);
  });
});

Deno.test("task loader reads csv and parquet splits", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/xsum`);
    const rows = Array.from({ length: 20 }, (_, i) => ({ document: `Doc ${i}.`, summary: `Sum ${i}.` }));
    const csv = ["document,summary", ...rows.map((r) => `${r.document},${r.summary}`)].join("\n");
    await Deno.writeTextFile(`${dir}/xsum/validation.csv`, csv);
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: "document", data: rows.map((r) => r.document), type: "STRING" },
        { name: "summary", data: rows.map((r) => r.summary), type: "STRING" },
      ],
    });
    await Deno.writeFile(`${dir}/xsum/test.parquet`, new Uint8Array(parquet));
    const splits = await loadTaskSplits("xsum", dir);
    assert.equal(splits.test.length, 20);
    assert.equal(splits.validation.length + splits.train.length, 20);
    assert.equal(splits.test[3].response, "Sum 3.");
  });
});

Deno.test("malformed jsonl names file, line, field", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.jsonl`;
    await Deno.writeTextFile(path, '{"question":"a","answer":"b"}\n\n{"question":"c","answer":3}\n');
    await assert.rejects(readRecords(path, FIELDS), (error: Error) => {
      assert.match(error.message, new RegExp(`^${path}:3: field "answer" is not a string`));
      return true;
    });
  });
});

Deno.test("malformed json array names element, field", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.json`;
    await Deno.writeTextFile(path, '[{"question":"a","answer":"b"},{"answer":"d"}]');
    await assert.rejects(readRecords(path, FIELDS), (error: Error) => {
      assert.equal(error.message, `${path}: element 1: field "question" is missing`);
      return true;
    });
  });
});

Deno.test("malformed csv names line and field", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.csv`;
    await Deno.writeTextFile(path, 'question,answer\n"multi\nline",ok\nonly-one-cell\n');
    await assert.rejects(readRecords(path, FIELDS), (error: Error) => {
      assert.match(error.message, new RegExp(`^${path}:4: row has 1 cells but the header has 2`));
      return true;
    });
    const mapped = `${dir}/mapped.csv`;
    await Deno.writeTextFile(mapped, "q,a\nx,y\n");
    await assert.rejects(readRecords(mapped, FIELDS, { fieldMap: { question: "q" } }), (error: Error) => {
      assert.equal(error.message, `${mapped}:2: field "answer" is missing`);
      return true;
    });
  });
});

Deno.test("unclosed csv quote names its line", () => {
  assert.throws(() => parseCsv("x.csv", 'a,b\n1,"open\n'), /^Error: x\.csv:2: quoted cell is never closed/);
});

Deno.test("malformed parquet names row and field", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.parquet`;
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: "question", data: ["a", null, "c"], type: "STRING" },
        { name: "answer", data: ["x", "y", "z"], type: "STRING" },
      ],
    });
    await Deno.writeFile(path, new Uint8Array(parquet));
    await assert.rejects(readRecords(path, FIELDS), (error: Error) => {
      assert.equal(error.message, `${path}: row 2: field "question" is missing`);
      return true;
    });
  });
});

Deno.test("missing split file lists names tried", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(loadTaskSplits("alpaca", dir), /Alpaca data not found: none of train\.jsonl, train\.json/);
  });
});
