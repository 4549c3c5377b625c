/**
 * Numbers reported in Hu, Guo, Feng, Zhao, "AdaSPEC: Selective Knowledge Distillation for
 * Efficient Speculative Decoders", NeurIPS 2025 (arXiv 2510.19779), for reports beside ours.
 *
 * @module
 */

/** Acceptance rate α (%) of Table 1, DistillSpec and AdaSPEC, per task, budget and model pair. */
export const PAPER_TABLE1: Readonly<
  Record<string, Record<"3-epoch" | "optimal-epoch", Record<"large-gap" | "small-gap", [number, number]>>>
> = Object.freeze({
  gsm8k: {
    "3-epoch": { "large-gap": [57.58, 62.63], "small-gap": [79.49, 82.79] },
    "optimal-epoch": { "large-gap": [66.19, 68.28], "small-gap": [81.49, 83.48] },
  },
  alpaca: {
    "3-epoch": { "large-gap": [44.34, 47.25], "small-gap": [56.48, 58.80] },
    "optimal-epoch": { "large-gap": [65.41, 65.79], "small-gap": [58.05, 60.36] },
  },
  mbpp: {
    "3-epoch": { "large-gap": [46.88, 47.73], "small-gap": [87.36, 88.76] },
    "optimal-epoch": { "large-gap": [49.88, 65.12], "small-gap": [86.60, 87.70] },
  },
  cnn_dailymail: {
    "3-epoch": { "large-gap": [73.05, 74.22], "small-gap": [79.33, 80.63] },
    "optimal-epoch": { "large-gap": [80.15, 80.89], "small-gap": [85.01, 86.29] },
  },
  xsum: {
    "3-epoch": { "large-gap": [47.24, 49.11], "small-gap": [58.88, 59.93] },
    "optimal-epoch": { "large-gap": [56.11, 57.80], "small-gap": [66.78, 68.19] },
  },
});

/** The paper's model pairs: large gap Pythia-31M → Pythia-1.4B (45×), small gap CodeGen-350M → Phi-2 (about 8×). */
export const PAPER_PAIRS = Object.freeze({
  "large-gap": "Pythia-31M → Pythia-1.4B",
  "small-gap": "CodeGen-350M-mono → Phi-2",
});
