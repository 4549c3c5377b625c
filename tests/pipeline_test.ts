import assert from "node:assert/strict";
import { TransformerLM } from "../lib/model.ts";
import { train } from "../lib/train.ts";
import { runTable1 } from "../lib/experiments/table1.ts";
import { PROFILES } from "../lib/profiles.ts";
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

/** Reads a JSON Lines file. */
async function readLines<T>(path: string): Promise<T[]> {
  return (await Deno.readTextFile(path)).trim().split("\n").map((line) => JSON.parse(line) as T);
}

Deno.test("smoke pipeline writes every cell and reuses its cache", async () => {
  const outDir = await Deno.makeTempDir();
  const cacheDir = await Deno.makeTempDir();
  const lines: string[] = [];
  const first = await runTable1({ profile: "smoke", dataDir: dataDir(), outDir, cacheDir, log: (l) => lines.push(l) });
  const profile = first.profile;
  const tableDir = `${outDir}/smoke/table1`;
  for (
    const file of [
      "table.md",
      "table.csv",
      "table.tex",
      "gsm8k/config.json",
      "gsm8k/seeds.jsonl",
      "gsm8k/records.jsonl",
      "gsm8k/timed.jsonl",
      "gsm8k/target.json",
    ]
  ) {
    assert.ok((await Deno.stat(`${tableDir}/${file}`)).size > 0, `${file} written`);
  }

  // 2 pairs × 2 budgets × 2 protocols, each over every seed.
  assert.equal(first.rows.length, 8);
  const cells = first.rows.map((r) => `${r.pair} ${r.budget} ${r.protocol}`);
  assert.equal(new Set(cells).size, 8, cells.join("; "));
  for (const row of first.rows) assert.equal(row.seeds, profile.seeds.length);

  // Each cell's numbers, recomputed here from the per-prompt counts.
  type Counts = { pair: string; seed: number; budget: string; draft: string; accepted: number; rejected: number };
  const records = await readLines<Counts>(`${tableDir}/gsm8k/records.jsonl`);
  const pooled = (pair: string, seed: number, budget: string, draft: string) => {
    const mine = records.filter((r) => r.pair === pair && r.seed === seed && r.budget === budget && r.draft === draft);
    assert.equal(mine.length, profile.testPrompts, `${pair} ${seed} ${budget} ${draft} has every prompt`);
    const accepted = mine.reduce((a, r) => a + r.accepted, 0);
    const proposed = mine.reduce((a, r) => a + r.accepted + r.rejected, 0);
    return proposed === 0 ? 0 : accepted / proposed;
  };
  assert.deepEqual(profile.seeds.length, 2, "the checks below use the t quantile for two seeds");
  for (const row of first.rows) {
    const budget = row.budget === "optimal-epoch" ? "optimal-epoch" : "fixed";
    const ada = row.protocol === "authors" ? "AdaSPEC (authors' protocol)" : "AdaSPEC (equal data)";
    const d = profile.seeds.map((seed) => pooled(row.pair, seed, budget, "DistillSpec"));
    const a = profile.seeds.map((seed) => pooled(row.pair, seed, budget, ada));
    assert.ok(
      Math.abs(row.distillspec_alpha - (d[0] + d[1]) / 2) < 1e-12,
      `${row.pair} ${row.budget} DistillSpec mean`,
    );
    assert.ok(Math.abs(row.adaspec_alpha - (a[0] + a[1]) / 2) < 1e-12, `${row.pair} ${row.budget} AdaSPEC mean`);
    // Two values: the 95 % t-interval half-width is t(0.975, 1) · |x1 − x2| / 2.
    const diffs = [a[0] - d[0], a[1] - d[1]];
    assert.ok(Math.abs(row.difference_ci - 12.706 * Math.abs(diffs[0] - diffs[1]) / 2) < 1e-9, "difference interval");
    assert.ok(row.bootstrap_low <= row.bootstrap_high, "bootstrap interval is ordered");
    assert.ok(["won", "lost", "tied"].includes(row.result));
    if (row.budget === "3-epoch") {
      assert.equal(row.distillspec_epochs, "3/3");
      assert.equal(row.adaspec_epochs, "3/3");
    } else {
      for (const epoch of `${row.distillspec_epochs}/${row.adaspec_epochs}`.split("/")) {
        assert.ok(profile.epochGrid.includes(Number(epoch)), `chosen epoch ${epoch} is in the grid`);
      }
    }
  }
  // The paper's numbers sit beside each cell.
  const largeFixed = first.rows.find((r) => r.pair === "large-gap" && r.budget === "3-epoch")!;
  assert.equal(largeFixed.paper_distillspec, 0.5758);
  assert.equal(largeFixed.paper_adaspec, 0.6263);
  const smallOptimal = first.rows.find((r) => r.pair === "small-gap" && r.budget === "optimal-epoch")!;
  assert.equal(smallOptimal.paper_distillspec, 0.8149);

  // The chosen optimal epoch is the one with the best validation α in the log.
  const choice = lines.find((l) => l.startsWith(`gsm8k large-gap seed ${profile.seeds[0]} DistillSpec: validation α`))!;
  const alphas = [...choice.matchAll(/(\d+): (\d\.\d+)/g)].map((m) => ({ epoch: Number(m[1]), alpha: Number(m[2]) }));
  const best = alphas.reduce((b, x) => (x.alpha > b.alpha ? x : b));
  assert.ok(choice.endsWith(`best epoch ${best.epoch}`), choice);

  // The authors' protocol: batch k⁻¹ times the reference's, for the reference's number of steps.
  const stageDirs = [...Deno.readDirSync(cacheDir)].map((e) => e.name);
  const summaryOf = async (prefix: string) => {
    const dir = stageDirs.find((d) => d.startsWith(prefix))!;
    const inputs = JSON.parse(await Deno.readTextFile(`${cacheDir}/${dir}/inputs.json`));
    const done = JSON.parse(await Deno.readTextFile(`${cacheDir}/${dir}/done.json`));
    return { inputs, steps: done.summary.steps as number };
  };
  const reference = await summaryOf("reference-distillspec-large-gap-");
  const authors = await summaryOf("draft-adaspec-authors-large-gap-");
  const equal = await summaryOf("draft-adaspec-equal-data-large-gap-");
  assert.equal(reference.inputs.budget.batchSize, profile.distill.batchSize);
  assert.equal(authors.inputs.budget.batchSize, Math.round(profile.distill.batchSize / profile.k));
  assert.equal(equal.inputs.budget.batchSize, profile.distill.batchSize);
  const stepsPerEpoch = Math.ceil(profile.trainExamples / profile.distill.batchSize);
  assert.equal(reference.steps, stepsPerEpoch * Math.max(...profile.epochGrid));
  assert.equal(authors.steps % stepsPerEpoch, 0, "authors' run stops at a reference epoch");

  // The timed drafts ran the real loops: lossless, with counts equal to the teacher-forced ones.
  const timed = await readLines<{ draft: string; identical: boolean | null; exactCountsAgree: boolean | null }>(
    `${tableDir}/gsm8k/timed.jsonl`,
  );
  assert.deepEqual([...new Set(timed.map((r) => r.draft))], [
    "pretrained draft (no distillation)",
    "DistillSpec",
    "AdaSPEC (authors' protocol)",
    "AdaSPEC (equal data)",
  ]);
  for (const r of timed.filter((r) => r.identical !== null)) {
    assert.equal(r.identical, true, `${r.draft} output equals plain greedy decoding`);
    assert.equal(r.exactCountsAgree, true, `${r.draft} teacher-forced counts equal the loop's`);
  }
  const latex = await Deno.readTextFile(`${tableDir}/table.tex`);
  assert.equal(latex.split("\n").filter((l) => l.startsWith("gsm8k & ")).length, 8, "LaTeX has every cell");
  const markdown = await Deno.readTextFile(`${tableDir}/table.md`);
  assert.equal(markdown.trim().split("\n").length, 10, "header, rule and eight cells");
  const csv = await Deno.readTextFile(`${tableDir}/table.csv`);
  assert.ok(csv.startsWith("backend,task,data,pair,budget,protocol,seeds,"), csv.slice(0, 80));
  const report = await Deno.readTextFile(`${outDir}/smoke/REPORT.md`);
  assert.ok(report.includes("57.58 → 62.63"), "report has the paper's GSM8K numbers");
  assert.ok(/AdaSPEC won \d+, lost \d+ and tied \d+ of 8 cells/.test(report), "report tallies the cells");
  const config = JSON.parse(await Deno.readTextFile(`${tableDir}/gsm8k/config.json`));
  assert.equal(config.backend.name, "wasm");
  assert.ok((await Deno.stat(`${config.headline["AdaSPEC (equal data)"]}/model.safetensors`)).isFile);

  // A rerun trains nothing and gives the same table.
  const again: string[] = [];
  const second = await runTable1({ profile: "smoke", dataDir: dataDir(), outDir, cacheDir, log: (l) => again.push(l) });
  assert.ok(!again.some((l) => /: start, \d+ examples/.test(l)), again.filter((l) => l.includes("start")).join("\n"));
  assert.deepEqual(second.rows, first.rows);
  assert.ok(
    lines.some((l) => /^teacher cache: \d+ positions × \d+ log-probs/.test(l)),
    "first run builds the teacher cache",
  );
  assert.ok(!again.some((l) => l.startsWith("teacher cache")), "a fully cached rerun does not touch the teacher cache");
  assert.ok(again.some((l) => l.includes("reusing stored target continuations")), "continuations come from the store");

  // Without the teacher cache the distillation stages have other keys and train again; the
  // pretraining stages are reused.
  const uncached: string[] = [];
  await runTable1({
    profile: "smoke",
    dataDir: dataDir(),
    outDir,
    cacheDir,
    pairs: ["large-gap"],
    teacherCache: false,
    log: (l) => uncached.push(l),
  });
  assert.ok(uncached.some((l) => l.startsWith("reference-distillspec-large-gap: start")), "reference trains again");
  assert.ok(uncached.some((l) => /^target-sft: reusing cached checkpoint/.test(l)), "target is reused");
  await Deno.remove(outDir, { recursive: true });
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("smoke pipeline distils from a top-K teacher cache and reports its error", async () => {
  const outDir = await Deno.makeTempDir();
  const cacheDir = await Deno.makeTempDir();
  const lines: string[] = [];
  const profile = { ...PROFILES.smoke, seeds: [42] };
  await runTable1({
    profile,
    dataDir: dataDir(),
    outDir,
    cacheDir,
    pairs: ["large-gap"],
    teacherTopK: 8,
    log: (l) => lines.push(l),
  });
  const config = JSON.parse(await Deno.readTextFile(`${outDir}/smoke/table1/gsm8k/config.json`));
  assert.equal(config.teacherTopK.k, 8);
  assert.ok(config.teacherTopK.meanKl > 0, "dropping tokens loses information");
  assert.ok(config.teacherTopK.maxKl >= config.teacherTopK.meanKl);
  assert.ok(config.teacherTopK.meanOutsideMass > 0, "some mass lies outside the K");
  assert.ok(config.teacherTopK.meanOutsideMass < 1, "the K keep some mass");
  assert.ok(lines.some((l) => /^teacher cache: top-8 keeps/.test(l)), lines.join("\n"));
  await assert.rejects(
    runTable1({ profile, dataDir: dataDir(), outDir, cacheDir, teacherTopK: 0 }),
    /invalid teacher top-K 0: use an integer from 1 to the vocabulary size 300/,
  );
  await assert.rejects(
    runTable1({ profile, dataDir: dataDir(), outDir, cacheDir, teacherTopK: 8, teacherCache: false }),
    /a teacher top-K needs the teacher cache/,
  );
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
  await assert.rejects(
    runTable1({ profile: "smoke", dataDir: dataDir(), pairs: ["tiny-gap"] }),
    /unknown pair tiny-gap: use one or more of large-gap, small-gap/,
  );
});

Deno.test("smoke pipeline on every task", async () => {
  const outDir = await Deno.makeTempDir();
  const cacheDir = await Deno.makeTempDir();
  const tasks = ["alpaca", "mbpp", "cnn_dailymail", "xsum"];
  // One gap keeps the run short; the GSM8K test covers both.
  const result = await runTable1({
    profile: "smoke",
    dataDir: dataDir(),
    outDir,
    cacheDir,
    tasks,
    pairs: ["large-gap"],
    log: () => {},
  });
  assert.deepEqual(result.runs.map((r) => r.task), tasks);
  for (const run of result.runs) {
    assert.equal(run.source, "data-dir", `${run.task} read the real data`);
    assert.equal(run.rows.length, 4, `${run.task} has two budgets × two protocols`);
    for (const d of run.evaluation.drafts) assert.equal(d.mismatches, 0, `${run.task} ${d.draft} lossless`);
  }
  const report = await Deno.readTextFile(`${outDir}/smoke/REPORT.md`);
  for (const title of ["Alpaca", "MBPP", "CNN/DailyMail", "XSUM"]) {
    assert.ok(report.includes(`## ${title}`), `report has a ${title} section`);
  }
  assert.ok(report.includes("73.05 → 74.22"), "report has the paper's CNN/DailyMail numbers");
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
    pairs: ["large-gap"],
    download: false,
    log: (l) => lines.push(l),
  });
  assert.equal(result.runs[0].source, "synthetic");
  assert.ok(lines.some((l) => l.includes("running on the synthetic stand-in")), lines.join("\n"));
  const report = await Deno.readTextFile(`${outDir}/smoke/REPORT.md`);
  assert.ok(report.includes("synthetic stand-in, not on the real dataset"), "report announces synthetic data");
  for (const dir of [outDir, cacheDir, emptyData]) await Deno.remove(dir, { recursive: true });
});
