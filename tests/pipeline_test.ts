import assert from "node:assert/strict";
import { TransformerLM } from "../lib/model.ts";
import { train } from "../lib/train.ts";
import { runTable1 } from "../lib/experiments/table1.ts";
import { dataDir, gsm8kExamples, setUpBackend } from "./helpers.ts";

await setUpBackend();

async function smallSetUp(count: number) {
  const { tokenizer, examples } = await gsm8kExamples(count, 300, 320);
  const config = {
    vocabSize: tokenizer.vocabSize,
    contextLength: 320,
    layers: 1,
    width: 32,
    heads: 2,
    mlpWidth: 64,
    seed: 1,
  };
  return { tokenizer, examples, config };
}

Deno.test("SFT lowers loss on real GSM8K", async () => {
  const { tokenizer, examples, config } = await smallSetUp(32);
  const model = TransformerLM.create(config);
  const summary = await train(model, examples, { kind: "sft" }, {
    epochs: 3,
    batchSize: 8,
    microBatchSize: 4,
    learningRate: 3e-3,
    seed: 1,
  }, { label: "sft", padId: tokenizer.eosId, log: () => {} });
  assert.equal(summary.steps, 12);
  assert.equal(summary.epochLoss.length, 3);
  assert.ok(summary.epochLoss[2] < summary.epochLoss[0] - 0.3, `loss ${summary.epochLoss.join(" → ")}`);
  model.dispose();
});

Deno.test("AdaSPEC keeps about k of the tokens", async () => {
  const { tokenizer, examples, config } = await smallSetUp(16);
  const target = TransformerLM.create({ ...config, width: 48, seed: 2 });
  const reference = TransformerLM.create({ ...config, seed: 3 });
  const draft = TransformerLM.create({ ...config, seed: 4 });
  const lines: string[] = [];
  const summary = await train(
    draft,
    examples,
    {
      kind: "adaspec",
      teacher: target,
      reference,
      divergence: "fkl",
      k: 0.4,
      normalisation: "valid",
      mode: "top",
    },
    { epochs: 1, batchSize: 8, learningRate: 1e-3, seed: 1, logEvery: 1 },
    {
      label: "adaspec",
      padId: tokenizer.eosId,
      log: (line) => lines.push(line),
    },
  );
  const keptFraction = summary.epochKeptFraction[0];
  // The quantile keeps ⌈0.4 n⌉-ish tokens of a pool of hundreds: within a token of 40 %.
  assert.ok(keptFraction >= 0.4, `kept fraction ${keptFraction} below k`);
  assert.ok(keptFraction < 0.41, `kept fraction ${keptFraction} too far above k`);
  assert.ok(lines.some((line) => /step 1\/2 loss \d+\.\d+ kept 0\.4\d+ tok\/s \d+ eta/.test(line)), lines.join("\n"));
  [target, reference, draft].forEach((m) => m.dispose());
});

Deno.test("smoke pipeline writes table and reuses cache", async () => {
  const outDir = await Deno.makeTempDir();
  const cacheDir = await Deno.makeTempDir();
  const lines: string[] = [];
  const first = await runTable1({ profile: "smoke", dataDir: dataDir(), outDir, cacheDir, log: (l) => lines.push(l) });
  const tableDir = `${outDir}/smoke/table1`;
  for (const file of ["table.md", "table.csv", "gsm8k/config.json", "gsm8k/records.jsonl", "gsm8k/target.json"]) {
    assert.ok((await Deno.stat(`${tableDir}/${file}`)).size > 0, `${file} written`);
  }
  assert.deepEqual(first.rows.map((r) => r.method), ["pretrained draft (no distillation)", "DistillSpec", "AdaSPEC"]);
  for (const row of first.rows) {
    assert.equal(row.lossless, true, `${row.method} output equals plain greedy decoding`);
    assert.ok(row.alpha >= 0, `${row.method} α ${row.alpha} below 0`);
    assert.ok(row.alpha <= 1, `${row.method} α ${row.alpha} above 1`);
  }
  const records = (await Deno.readTextFile(`${tableDir}/gsm8k/records.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.equal(records.length, 3 * first.profile.testPrompts);
  for (const record of records) {
    assert.equal(
      record.exactCountsAgree,
      true,
      `teacher-forced counts equal the loop's, ${record.draft} prompt ${record.prompt}`,
    );
  }
  // The pooled α equals the sum of the per-prompt counts.
  const ada = records.filter((r) => r.draft === "AdaSPEC");
  const accepted = ada.reduce((a, r) => a + r.accepted, 0);
  const rejected = ada.reduce((a, r) => a + r.rejected, 0);
  assert.equal(first.rows[2].alpha, accepted / (accepted + rejected));
  const markdown = await Deno.readTextFile(`${tableDir}/table.md`);
  assert.equal(markdown.trim().split("\n").length, 5, "header, rule and three rows");
  const csv = await Deno.readTextFile(`${tableDir}/table.csv`);
  assert.ok(csv.startsWith("backend,task,data,pair,budget,method,"), csv.slice(0, 80));
  const report = await Deno.readTextFile(`${outDir}/smoke/REPORT.md`);
  assert.ok(report.includes("| DistillSpec |"), "report has a DistillSpec row");
  assert.ok(report.includes("| 57.58 |"), "report has the paper's DistillSpec α");
  const comparison = JSON.parse(await Deno.readTextFile(`${tableDir}/gsm8k/comparison.json`));
  assert.equal(comparison.difference, first.rows[2].alpha - first.rows[1].alpha, "comparison is AdaSPEC − DistillSpec");
  assert.ok(comparison.low <= comparison.high, "interval is ordered");
  assert.ok(report.includes("paired bootstrap"), "report gives the paired interval");
  const config = JSON.parse(await Deno.readTextFile(`${tableDir}/gsm8k/config.json`));
  assert.equal(config.backend.name, "wasm");

  const again: string[] = [];
  const second = await runTable1({ profile: "smoke", dataDir: dataDir(), outDir, cacheDir, log: (l) => again.push(l) });
  assert.equal(again.filter((l) => l.includes("reusing cached checkpoint")).length, 5, again.join("\n"));
  assert.deepEqual(second.rows.map((r) => r.alpha), first.rows.map((r) => r.alpha));
  assert.ok(
    lines.some((l) => /^teacher cache: \d+ positions × \d+ log-probs/.test(l)),
    "first run builds the teacher cache",
  );
  assert.ok(!again.some((l) => l.startsWith("teacher cache")), "a fully cached rerun does not touch the teacher cache");
  assert.ok(again.some((l) => l.includes("reusing stored target continuations")), "continuations come from the store");

  // Without the teacher cache the two distillation stages have other keys and train again.
  const uncached: string[] = [];
  await runTable1({
    profile: "smoke",
    dataDir: dataDir(),
    outDir,
    cacheDir,
    teacherCache: false,
    log: (l) => uncached.push(l),
  });
  assert.equal(uncached.filter((l) => l.includes("reusing cached checkpoint")).length, 3, uncached.join("\n"));
  await Deno.remove(outDir, { recursive: true });
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("unknown task and profile rejected", async () => {
  await assert.rejects(
    runTable1({ profile: "smoke", dataDir: dataDir(), tasks: ["gsm8k", "squad"] }),
    /unknown task squad: use one or more of gsm8k, alpaca, mbpp, cnn_dailymail, xsum/,
  );
  await assert.rejects(
    runTable1({ profile: "huge", dataDir: dataDir() }),
    /unknown profile "huge": use one of smoke, small/,
  );
});

Deno.test("smoke pipeline on every task", async () => {
  const outDir = await Deno.makeTempDir();
  const cacheDir = await Deno.makeTempDir();
  const tasks = ["alpaca", "mbpp", "cnn_dailymail", "xsum"];
  const result = await runTable1({ profile: "smoke", dataDir: dataDir(), outDir, cacheDir, tasks, log: () => {} });
  assert.deepEqual(result.runs.map((r) => r.task), tasks);
  for (const run of result.runs) {
    assert.equal(run.source, "data-dir", `${run.task} read the real data`);
    assert.equal(run.rows.length, 3, `${run.task} has three drafts`);
    for (const row of run.rows) assert.equal(row.lossless, true, `${run.task} ${row.method} lossless`);
  }
  const report = await Deno.readTextFile(`${outDir}/smoke/REPORT.md`);
  for (const title of ["Alpaca", "MBPP", "CNN/DailyMail", "XSUM"]) {
    assert.ok(report.includes(`## Table 1: ${title}`), `report has a ${title} section`);
  }
  assert.ok(report.includes("| 73.05 |"), "report has the paper's CNN/DailyMail DistillSpec α");
  await Deno.remove(outDir, { recursive: true });
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("smoke pipeline falls back to synthetic data", async () => {
  const outDir = await Deno.makeTempDir();
  const cacheDir = await Deno.makeTempDir();
  const emptyData = await Deno.makeTempDir();
  const lines: string[] = [];
  const result = await runTable1({
    profile: "smoke",
    dataDir: emptyData,
    outDir,
    cacheDir,
    tasks: ["xsum"],
    download: false,
    log: (l) => lines.push(l),
  });
  assert.equal(result.runs[0].source, "synthetic");
  assert.ok(lines.some((l) => l.includes("running on the synthetic stand-in")), lines.join("\n"));
  const report = await Deno.readTextFile(`${outDir}/smoke/REPORT.md`);
  assert.ok(report.includes("synthetic stand-in, not on the real dataset"), "report announces synthetic data");
  for (const dir of [outDir, cacheDir, emptyData]) await Deno.remove(dir, { recursive: true });
});
