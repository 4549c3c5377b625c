/**
 * Table 1 cells from per-seed results: mean α over seeds with a 95 % t-interval, the AdaSPEC −
 * DistillSpec difference with an interval over seeds and a paired bootstrap over prompts, and a
 * verdict per cell. Also the Markdown, CSV and LaTeX forms of the table.
 *
 * @module
 */
import { meanInterval, pairedBootstrap, type PromptCounts } from "../stats.ts";
import { type Row, toCsv, toLatex, toMarkdown } from "../report.ts";
import { PAPER_TABLE1 } from "../paper.ts";

/** The two draft/target size gaps. */
export const PAIRS = ["large-gap", "small-gap"] as const;
export type PairName = typeof PAIRS[number];

/** The two training budgets: the profile's fixed epoch count and the epoch chosen on validation. */
export const BUDGETS = ["fixed", "optimal-epoch"] as const;
export type BudgetName = typeof BUDGETS[number];

/**
 * The two comparison protocols for the AdaSPEC draft. `authors`: batch = reference batch / k, for
 * the same number of optimiser steps as the reference (it reads 1/k as many sequences).
 * `equal-data`: the reference's batch and steps.
 */
export const PROTOCOLS = ["authors", "equal-data"] as const;
export type ProtocolName = typeof PROTOCOLS[number];

/** Display names of the drafts. */
export const METHOD_NAMES = {
  pretrained: "pretrained draft (no distillation)",
  distillspec: "DistillSpec",
  authors: "AdaSPEC (authors' protocol)",
  "equal-data": "AdaSPEC (equal data)",
} as const;

/** One draft of one seed in one cell: its chosen epoch, validation α and per-prompt test counts. */
export interface SeedResult {
  task: string;
  pair: PairName;
  seed: number;
  budget: BudgetName;
  /** `distillspec`, `pretrained`, or the AdaSPEC protocol. */
  method: keyof typeof METHOD_NAMES;
  /** Distillation epoch of the evaluated checkpoint (0 for the pretrained draft). */
  epoch: number;
  /** Validation α of that checkpoint (null when no choice was made on validation). */
  validationAlpha: number | null;
  /** Pooled test α over the prompts. */
  alpha: number;
  /** Test acceptance counts of every prompt, in prompt order. */
  counts: PromptCounts[];
}

/** One cell of Table 1 (a task, pair, budget and protocol), summarised over seeds. */
export interface Table1Row extends Row {
  /** Backend and version that evaluated the cell, for example `tensorflow 4.22.0`. */
  backend: string;
  task: string;
  /** Origin of the task's data: `data-dir`, `cache`, `download` or `synthetic`. */
  data: string;
  pair: string;
  /** `3-epoch` (the profile's fixed budget) or `optimal-epoch`. */
  budget: string;
  protocol: string;
  seeds: number;
  target_parameters: number;
  draft_parameters: number;
  /** Mean over seeds of each seed's pooled test α, and the half-width of its 95 % t-interval. */
  distillspec_alpha: number;
  distillspec_ci: number;
  adaspec_alpha: number;
  adaspec_ci: number;
  /** Epoch chosen for each seed, joined with `/`. */
  distillspec_epochs: string;
  adaspec_epochs: string;
  /** AdaSPEC − DistillSpec: mean over seeds of the per-seed difference, with its 95 % t-interval. */
  difference: number;
  difference_ci: number;
  /** Paired bootstrap over prompts of the difference of α pooled over seeds: 95 % interval and p. */
  bootstrap_low: number;
  bootstrap_high: number;
  p_value: number;
  /** `won`, `lost` or `tied`: won or lost only when both intervals exclude zero on the same side. */
  result: string;
  paper_distillspec: number | null;
  paper_adaspec: number | null;
}

/** Seed results of one draft, in seed order. */
function pick(results: SeedResult[], method: SeedResult["method"], budget: BudgetName): SeedResult[] {
  return results.filter((r) => r.method === method && r.budget === budget).sort((a, b) => a.seed - b.seed);
}

/** Sums the counts of each prompt over seeds. */
function sumOverSeeds(results: SeedResult[]): PromptCounts[] {
  const prompts = results[0].counts.length;
  return Array.from({ length: prompts }, (_, i) => ({
    accepted: results.reduce((sum, r) => sum + r.counts[i].accepted, 0),
    rejected: results.reduce((sum, r) => sum + r.counts[i].rejected, 0),
  }));
}

/** Rounds to 4 decimals, so that 62.63 % is stored as 0.6263, not 0.6263000000000001. */
function fraction(percent: number): number {
  return Number((percent / 100).toFixed(4));
}

/**
 * Summarises the seed results of one task and pair into one row per budget and protocol.
 * `budgetLabel` names the fixed budget, for example `3-epoch`. The AdaSPEC paper's Table 1 has
 * only 3-epoch and optimal-epoch columns, so a fixed budget with another label gets no paper values.
 */
export function summariseCells(
  results: SeedResult[],
  context: {
    backend: string;
    task: string;
    data: string;
    pair: PairName;
    budgetLabel: string;
    targetParameters: number;
    draftParameters: number;
    seed: number;
  },
): Table1Row[] {
  const rows: Table1Row[] = [];
  const mine = results.filter((r) => r.task === context.task && r.pair === context.pair);
  for (const budget of BUDGETS) {
    const distill = pick(mine, "distillspec", budget);
    if (distill.length === 0) continue;
    const label = budget === "fixed" ? context.budgetLabel : budget;
    const paperBudget = label === "3-epoch" || label === "optimal-epoch" ? label : null;
    const paper = paperBudget ? PAPER_TABLE1[context.task]?.[paperBudget]?.[context.pair] : undefined;
    for (const protocol of PROTOCOLS) {
      const ada = pick(mine, protocol, budget);
      if (ada.length !== distill.length) {
        throw new Error(
          `${context.task} ${context.pair} ${label}: ${ada.length} AdaSPEC seeds for ${distill.length} DistillSpec seeds`,
        );
      }
      const d = meanInterval(distill.map((r) => r.alpha));
      const a = meanInterval(ada.map((r) => r.alpha));
      const diff = meanInterval(ada.map((r, i) => r.alpha - distill[i].alpha));
      const boot = pairedBootstrap(sumOverSeeds(distill), sumOverSeeds(ada), { samples: 2000, seed: context.seed });
      let result = "tied";
      if (diff.n > 1 && diff.mean - diff.halfWidth > 0 && boot.low > 0) result = "won";
      if (diff.n > 1 && diff.mean + diff.halfWidth < 0 && boot.high < 0) result = "lost";
      rows.push({
        backend: context.backend,
        task: context.task,
        data: context.data,
        pair: context.pair,
        budget: label,
        protocol,
        seeds: distill.length,
        target_parameters: context.targetParameters,
        draft_parameters: context.draftParameters,
        distillspec_alpha: d.mean,
        distillspec_ci: d.halfWidth,
        adaspec_alpha: a.mean,
        adaspec_ci: a.halfWidth,
        distillspec_epochs: distill.map((r) => r.epoch).join("/"),
        adaspec_epochs: ada.map((r) => r.epoch).join("/"),
        difference: diff.mean,
        difference_ci: diff.halfWidth,
        bootstrap_low: boot.low,
        bootstrap_high: boot.high,
        p_value: boot.pValue,
        result,
        paper_distillspec: paper ? fraction(paper[0]) : null,
        paper_adaspec: paper ? fraction(paper[1]) : null,
      });
    }
  }
  return rows;
}

const pct = (x: number | null, digits = 2) => (x === null ? "—" : (100 * x).toFixed(digits));
const signed = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(2)}`;

/** Formats cell rows for reading: percentages with intervals, and the verdict. */
export function displayRows(rows: Table1Row[]): Row[] {
  return rows.map((r) => ({
    task: r.task,
    pair: r.pair,
    budget: r.budget,
    protocol: r.protocol,
    seeds: r.seeds,
    "DistillSpec α (%)": `${pct(r.distillspec_alpha)} ± ${pct(r.distillspec_ci)}`,
    "AdaSPEC α (%)": `${pct(r.adaspec_alpha)} ± ${pct(r.adaspec_ci)}`,
    "paper DistillSpec → AdaSPEC (%)": r.paper_distillspec === null
      ? "—"
      : `${pct(r.paper_distillspec)} → ${pct(r.paper_adaspec)}`,
    "AdaSPEC vs DistillSpec (points)": `${r.result} ${signed(r.difference)} ± ${pct(r.difference_ci)}`,
    "bootstrap 95 % (points)": `[${signed(r.bootstrap_low)}, ${signed(r.bootstrap_high)}]`,
    p: r.p_value.toFixed(3),
    "epochs D / A": `${r.distillspec_epochs} / ${r.adaspec_epochs}`,
  }));
}

/** Table 1 as Markdown (display form), CSV (every raw column) and LaTeX (display form). */
export function renderTable(rows: Table1Row[]): { markdown: string; csv: string; latex: string } {
  const display = displayRows(rows);
  return {
    markdown: toMarkdown(display),
    csv: toCsv(rows),
    latex: toLatex(display, {
      caption:
        "Acceptance rate α (%), DistillSpec against AdaSPEC: mean over seeds ± 95 % t-interval; the difference with its interval over seeds, and a paired bootstrap over prompts.",
      label: "tab:table1",
    }),
  };
}

/** Counts of won, lost and tied cells. */
export function tally(rows: Table1Row[]): { won: number; lost: number; tied: number } {
  return {
    won: rows.filter((r) => r.result === "won").length,
    lost: rows.filter((r) => r.result === "lost").length,
    tied: rows.filter((r) => r.result === "tied").length,
  };
}
