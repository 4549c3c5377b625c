import assert from "node:assert/strict";
import { renderTable, type SeedResult, summariseCells, tally } from "../lib/experiments/table1_summary.ts";
import { bestEpoch, validateProfile } from "../lib/experiments/table1.ts";
import { PROFILES } from "../lib/profiles.ts";
import { escapeLatex, toLatex } from "../lib/report.ts";

type Counts = [number, number][];

function seedResult(
  method: SeedResult["method"],
  seed: number,
  counts: Counts,
  budget: SeedResult["budget"] = "fixed",
) {
  const accepted = counts.reduce((a, c) => a + c[0], 0);
  const proposed = counts.reduce((a, c) => a + c[0] + c[1], 0);
  return {
    task: "gsm8k",
    pair: "large-gap",
    seed,
    budget,
    method,
    epoch: 3,
    validationAlpha: null,
    alpha: accepted / proposed,
    counts: counts.map(([a, r]) => ({ accepted: a, rejected: r })),
  } satisfies SeedResult;
}

const context = {
  backend: "wasm 4.22.0",
  task: "gsm8k",
  data: "data-dir",
  pair: "large-gap" as const,
  budgetLabel: "3-epoch",
  targetParameters: 1000,
  draftParameters: 100,
  seed: 1,
};

/** Both protocols get the same AdaSPEC counts in these tests. */
function withBothProtocols(distill: Counts[], ada: Counts[]): SeedResult[] {
  return [
    ...distill.map((c, i) => seedResult("distillspec", i, c)),
    ...ada.map((c, i) => seedResult("authors", i, c)),
    ...ada.map((c, i) => seedResult("equal-data", i, c)),
  ];
}

Deno.test("cell means, intervals and verdicts are computed as defined", () => {
  // Two seeds. DistillSpec pools 4/6 in both; AdaSPEC 5/6 in both: difference +1/6 with no spread.
  const results = withBothProtocols(
    [[[3, 1], [1, 1]], [[2, 2], [2, 0]]],
    [[[4, 0], [1, 1]], [[3, 1], [2, 0]]],
  );
  const rows = summariseCells(results, context);
  assert.equal(rows.length, 2, "one fixed-budget cell per protocol");
  const row = rows[0];
  assert.equal(row.protocol, "authors");
  assert.ok(Math.abs(row.distillspec_alpha - 4 / 6) < 1e-12);
  assert.ok(Math.abs(row.adaspec_alpha - 5 / 6) < 1e-12);
  assert.ok(Math.abs(row.difference - 1 / 6) < 1e-12);
  assert.equal(row.difference_ci, 0);
  // Summed over seeds, prompt 1 is 5/8 → 7/8 and prompt 2 is 3/4 → 3/4. A resample of prompt 2
  // alone (probability 1/4) has difference 0, so the 2.5 % bootstrap percentile is 0: not a win.
  assert.equal(row.bootstrap_low, 0);
  assert.ok(Math.abs(row.bootstrap_high - 0.25) < 1e-12);
  assert.equal(row.result, "tied");
  assert.equal(row.paper_distillspec, 0.5758);
  assert.equal(row.paper_adaspec, 0.6263);
  assert.equal(row.distillspec_epochs, "3/3");
});

Deno.test("a gain on every prompt and seed is won, a loss is lost", () => {
  const d: Counts = [[1, 1], [1, 1], [2, 2]];
  const a: Counts = [[2, 0], [2, 0], [3, 1]];
  const won = summariseCells(withBothProtocols([d, d, d], [a, a, a]), context)[0];
  assert.equal(won.result, "won");
  assert.ok(won.bootstrap_low > 0);
  const lost = summariseCells(withBothProtocols([a, a, a], [d, d, d]), context)[0];
  assert.equal(lost.result, "lost");
  assert.deepEqual(tally([won, lost]), { won: 1, lost: 1, tied: 0 });
  // A gain that varies across seeds: t(0.975, 2) = 4.303 makes the interval cross zero.
  const mixed = summariseCells(withBothProtocols([d, d, d], [a, d, [[1, 1], [1, 1], [1, 3]]]), context)[0];
  // DistillSpec pools 4/8 in every seed; AdaSPEC 7/8, 4/8 and 3/8.
  const diffs = [7 / 8 - 0.5, 0, 3 / 8 - 0.5];
  const mean = diffs.reduce((x, y) => x + y) / 3;
  const sd = Math.sqrt(diffs.reduce((s, x) => s + (x - mean) ** 2, 0) / 2);
  assert.ok(Math.abs(mixed.difference - mean) < 1e-12);
  assert.ok(Math.abs(mixed.difference_ci - 4.303 * sd / Math.sqrt(3)) < 1e-12);
  assert.equal(mixed.result, "tied");
});

Deno.test("paper columns follow the budget label, and seed counts must match", () => {
  const results = withBothProtocols([[[1, 1]]], [[[1, 1]]]);
  const other = summariseCells(results, { ...context, budgetLabel: "2-epoch" });
  assert.equal(other[0].paper_distillspec, null);
  const optimal = summariseCells(
    (["distillspec", "authors", "equal-data"] as const).map((m) => seedResult(m, 0, [[1, 1]], "optimal-epoch")),
    context,
  );
  assert.deepEqual(optimal.map((r) => r.budget), ["optimal-epoch", "optimal-epoch"]);
  assert.equal(optimal[0].paper_distillspec, 0.6619);
});

Deno.test("a cell with fewer AdaSPEC seeds than DistillSpec seeds is rejected", () => {
  const results = [seedResult("distillspec", 0, [[1, 1]]), seedResult("distillspec", 1, [[1, 1]])];
  results.push(seedResult("authors", 0, [[1, 1]]));
  assert.throws(() => summariseCells(results, context), /1 AdaSPEC seeds for 2 DistillSpec seeds/);
});

Deno.test("best epoch takes the highest validation α, the earliest on ties", () => {
  assert.equal(bestEpoch([1, 2, 3], [0.5, 0.7, 0.6]), 2);
  assert.equal(bestEpoch([1, 2, 3], [0.7, 0.7, 0.6]), 1);
  assert.equal(bestEpoch([1, 3, 6], [0.1, 0.2, 0.3]), 6);
});

Deno.test("profiles with an unusable grid or seeds are rejected", () => {
  for (const profile of Object.values(PROFILES)) validateProfile(profile);
  const small = PROFILES.small;
  assert.throws(() => validateProfile({ ...small, epochGrid: [1, 2] }), /must contain distill\.epochs = 3/);
  assert.throws(() => validateProfile({ ...small, epochGrid: [3, 1] }), /must be increasing positive integers/);
  assert.throws(() => validateProfile({ ...small, seeds: [] }), /must be distinct and not empty/);
  assert.throws(() => validateProfile({ ...small, seeds: [1, 1] }), /must be distinct and not empty/);
  assert.throws(() => validateProfile({ ...small, validationPrompts: 0 }), /validationPrompts = 0/);
});

Deno.test("LaTeX output escapes special characters and has one line per row", () => {
  assert.equal(
    escapeLatex("a_b & 50 % {x} #1 $2 ~ ^ \\"),
    "a\\_b \\& 50 \\% \\{x\\} \\#1 \\$2 \\textasciitilde{} \\textasciicircum{} \\textbackslash{}",
  );
  const tex = toLatex([{ name: "x_1", value: 2 }, { name: "y", value: 3 }], { caption: "50 %", label: "tab:x" });
  const lines = tex.trim().split("\n");
  assert.deepEqual(lines.slice(0, 4), ["\\begin{table}[t]", "\\centering", "\\caption{50 \\%}", "\\label{tab:x}"]);
  assert.ok(lines.includes("\\begin{tabular}{lr}"), "the numeric column is right-aligned");
  assert.ok(lines.includes("x\\_1 & 2 \\\\"));
  assert.ok(lines.includes("y & 3 \\\\"));
  const table = renderTable(summariseCells(withBothProtocols([[[1, 1]]], [[[2, 0]]]), context));
  assert.equal(table.latex.split("\n").filter((l) => l.startsWith("gsm8k & large-gap")).length, 2);
  assert.ok(table.markdown.includes("| gsm8k | large-gap | 3-epoch | authors | 1 | 50.00 ± 0.00 | 100.00 ± 0.00 |"));
});
