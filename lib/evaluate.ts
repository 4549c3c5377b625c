/**
 * Evaluation of drafts against a target by greedy speculative decoding on test prompts. It
 * reports the acceptance rate α (pooled and per prompt), block efficiency τ, the measured
 * draft/target cost ratio c and the predicted and measured speed-up. It also checks that the
 * output equals plain greedy decoding, and measures the quality of the target's own continuations.
 *
 * @module
 */
import type { TransformerLM } from "./model.ts";
import { acceptanceRate, blockEfficiency, greedyDecode, predictedSpeedup, speculativeDecode } from "./speculative.ts";
import { exactAcceptance } from "./exact_alpha.ts";
import { greedyDecodeBatch } from "./batch_decode.ts";

/** One prompt's outcome for one draft. */
export interface PromptRecord {
  draft: string;
  prompt: number;
  accepted: number;
  rejected: number;
  /** α of this prompt; null when the draft proposed nothing (the target ended at once). */
  alpha: number | null;
  /** Length of the target's greedy continuation, which speculative decoding reproduces. */
  generated: number;
  targetCalls: number;
  /** Wall time of the speculative loop; null for prompts outside the timed ones. */
  milliseconds: number | null;
  /** True when the speculative output equals the target's greedy output; null when not timed. */
  identical: boolean | null;
  /** True when the teacher-forced counts equal the loop's; null when not timed. */
  exactCountsAgree: boolean | null;
}

/** Pooled result of one draft. */
export interface DraftResult {
  draft: string;
  parameters: number;
  accepted: number;
  rejected: number;
  alpha: number;
  /** Mean of the per-prompt α values (prompts with proposals only). */
  meanPromptAlpha: number;
  tau: number;
  costRatio: number;
  predictedSpeedup: number;
  /** Plain greedy target time / speculative time over the same prompts. */
  measuredSpeedup: number;
  /** Prompts whose speculative output differed from plain greedy decoding (0 when lossless). */
  mismatches: number;
  /** Prompts whose teacher-forced counts differed from the decoding loop's (0 when exact). */
  exactCountMismatches: number;
}

/** Quality of the target's greedy continuations: a looping target inflates α. */
export interface TargetQuality {
  parameters: number;
  meanLength: number;
  /** Share of continuations that end in EOS. */
  eosShare: number;
  /** Distinct 4-grams / all 4-grams over the continuations (1 = no repetition). */
  distinct4: number;
  /** Milliseconds per target forward call of one new token with a KV cache. */
  msPerCall: number;
}

/** Everything an evaluation produced. */
export interface EvaluationResult {
  gamma: number;
  maxNewTokens: number;
  prompts: number;
  /** Prompts that ran the real decoding loops. */
  timedPrompts: number;
  /** Timed prompts whose stored continuation differed from fresh greedy decoding (0 when the store is sound). */
  storeMismatches: number;
  target: TargetQuality;
  drafts: DraftResult[];
  records: PromptRecord[];
  /** The target's greedy continuation of each prompt. */
  continuations: number[][];
}

/** Returns distinct 4-grams over all 4-grams of the sequences (1 when there are none). */
export function distinctNgramRatio(sequences: number[][], n = 4): number {
  const seen = new Set<string>();
  let total = 0;
  for (const tokens of sequences) {
    for (let i = 0; i + n <= tokens.length; i++) {
      seen.add(tokens.slice(i, i + n).join(","));
      total++;
    }
  }
  return total === 0 ? 1 : seen.size / total;
}

/** Returns milliseconds per single-token forward call of `model`, measured by greedy decoding. */
function measureCallCost(model: TransformerLM, prompts: number[][], tokens: number): number {
  let ms = 0, calls = 0;
  for (const prompt of prompts) {
    // EOS id −1 never matches, so every prompt runs the full number of calls.
    const out = greedyDecode(model, prompt, tokens, -1);
    // The first call also processes the prompt; leave it out of the per-token cost.
    const first = out.targetMilliseconds / out.targetCalls;
    ms += out.targetMilliseconds - first;
    calls += out.targetCalls - 1;
  }
  return ms / Math.max(calls, 1);
}

/** Options of {@link evaluateDrafts}. */
export interface EvaluateOptions {
  /** Lookahead γ. */
  gamma: number;
  /** Maximum new tokens per prompt (cut to the context length). */
  maxNewTokens: number;
  eosId: number;
  /**
   * Number of prompts (the first ones) that also run the real decoding loops, for wall-clock
   * speed, the lossless check and the check of the teacher-forced counts. All prompts by default.
   * α always covers every prompt, from teacher-forced counts, which equal the loop's.
   */
  timingPrompts?: number;
  /** The target's stored greedy continuations of the prompts, when known; decoded otherwise. */
  continuations?: number[][];
  /** Prompts per forward call when decoding continuations outside the timed prompts; 8 by default. */
  batchSize?: number;
  log?: (line: string) => void;
}

/**
 * Evaluates each draft against `target` on `prompts`. Logs one line per interval of prompts.
 */
export function evaluateDrafts(
  target: TransformerLM,
  drafts: { name: string; model: TransformerLM }[],
  prompts: number[][],
  options: EvaluateOptions,
): EvaluationResult {
  const log = options.log ?? ((line: string) => console.error(line));
  const { gamma, maxNewTokens, eosId } = options;
  if (prompts.length === 0) throw new Error("no test prompts to evaluate");
  const timed = Math.min(options.timingPrompts ?? prompts.length, prompts.length);
  if (!Number.isInteger(timed) || timed < 1) {
    throw new Error(`invalid timingPrompts ${options.timingPrompts}: use a positive integer`);
  }
  if (options.continuations && options.continuations.length !== prompts.length) {
    throw new Error(
      `${options.continuations.length} stored continuations for ${prompts.length} prompts; rebuild the continuation store`,
    );
  }
  const logEvery = Math.max(1, Math.floor(timed / 5));

  // Plain greedy decoding of the timed prompts gives the baseline time and the target's cost per call.
  log(`evaluate: target greedy decoding of ${timed} timed prompts, max ${maxNewTokens} new tokens`);
  const continuations: number[][] = [];
  const greedyMs: number[] = [];
  let targetCallMs = 0, targetCalls = 0;
  const start = performance.now();
  for (let i = 0; i < timed; i++) {
    const out = greedyDecode(target, prompts[i], maxNewTokens, eosId);
    continuations.push(out.tokens);
    greedyMs.push(out.milliseconds);
    if (out.targetCalls > 1) {
      targetCallMs += out.targetMilliseconds * (out.targetCalls - 1) / out.targetCalls;
      targetCalls += out.targetCalls - 1;
    }
    if ((i + 1) % logEvery === 0) {
      log(`evaluate: target ${i + 1}/${timed} prompts, ${((performance.now() - start) / 1000).toFixed(0)}s`);
    }
  }
  let storeMismatches = 0;
  if (options.continuations) {
    for (let i = 0; i < timed; i++) {
      if (options.continuations[i].join(",") !== continuations[i].join(",")) storeMismatches++;
    }
    if (storeMismatches > 0) {
      log(`evaluate: ERROR ${storeMismatches} stored continuations differ from fresh greedy decoding`);
    }
    continuations.push(...options.continuations.slice(timed));
  } else if (timed < prompts.length) {
    const batchStart = performance.now();
    continuations.push(
      ...greedyDecodeBatch(target, prompts.slice(timed), { maxNewTokens, eosId, batchSize: options.batchSize ?? 8 }),
    );
    log(
      `evaluate: batched greedy decoding of the other ${prompts.length - timed} prompts, ${
        ((performance.now() - batchStart) / 1000).toFixed(0)
      }s`,
    );
  }

  const lengths = continuations.map((c) => c.length);
  const target_: TargetQuality = {
    parameters: target.parameterCount,
    meanLength: lengths.reduce((a, b) => a + b, 0) / lengths.length,
    eosShare: continuations.filter((c) => c.at(-1) === eosId).length / continuations.length,
    distinct4: distinctNgramRatio(continuations),
    msPerCall: targetCallMs / Math.max(targetCalls, 1),
  };
  log(
    `evaluate: target mean length ${target_.meanLength.toFixed(1)}, EOS share ${
      target_.eosShare.toFixed(2)
    }, distinct-4 ${target_.distinct4.toFixed(3)}, ${target_.msPerCall.toFixed(2)} ms per call`,
  );

  const records: PromptRecord[] = [];
  const results: DraftResult[] = [];
  const costPrompts = prompts.slice(0, Math.min(8, timed));
  for (const { name, model } of drafts) {
    const draftMsPerCall = measureCallCost(model, costPrompts, Math.min(32, maxNewTokens));
    const costRatio = draftMsPerCall / target_.msPerCall;
    let accepted = 0, rejected = 0, mismatches = 0, exactCountMismatches = 0, specMs = 0;
    const promptAlphas: number[] = [];
    const draftStart = performance.now();
    prompts.forEach((prompt, i) => {
      // α of every prompt comes from the teacher-forced count over the target's continuation.
      const exact = exactAcceptance(model, prompt, continuations[i], {
        gamma,
        maxNewTokens,
        eosId,
        targetContextLength: target.config.contextLength,
      });
      accepted += exact.accepted;
      rejected += exact.rejected;
      const alpha = exact.accepted + exact.rejected > 0 ? exact.accepted / (exact.accepted + exact.rejected) : null;
      if (alpha !== null) promptAlphas.push(alpha);
      const record: PromptRecord = {
        draft: name,
        prompt: i,
        accepted: exact.accepted,
        rejected: exact.rejected,
        alpha,
        generated: continuations[i].length,
        targetCalls: exact.targetCalls,
        milliseconds: null,
        identical: null,
        exactCountsAgree: null,
      };

      // Timed prompts also run the real loop: wall time, the lossless check, the count check.
      if (i < timed) {
        const out = speculativeDecode(target, model, prompt, { gamma, maxNewTokens, eosId });
        record.identical = out.tokens.length === continuations[i].length &&
          out.tokens.every((t, j) => t === continuations[i][j]);
        record.exactCountsAgree = exact.accepted === out.accepted && exact.rejected === out.rejected;
        record.milliseconds = out.milliseconds;
        if (!record.identical) mismatches++;
        if (!record.exactCountsAgree) exactCountMismatches++;
        specMs += out.milliseconds;
        if ((i + 1) % logEvery === 0) {
          log(
            `evaluate: ${name} ${i + 1}/${timed} timed prompts, α so far ${
              (accepted / Math.max(accepted + rejected, 1)).toFixed(4)
            }, ${((performance.now() - draftStart) / 1000).toFixed(0)}s`,
          );
        }
      }
      records.push(record);
    });
    const alpha = acceptanceRate(accepted, rejected);
    const result: DraftResult = {
      draft: name,
      parameters: model.parameterCount,
      accepted,
      rejected,
      alpha,
      meanPromptAlpha: promptAlphas.reduce((a, b) => a + b, 0) / Math.max(promptAlphas.length, 1),
      tau: blockEfficiency(alpha, gamma),
      costRatio,
      predictedSpeedup: predictedSpeedup(alpha, gamma, costRatio),
      measuredSpeedup: greedyMs.reduce((a, b) => a + b, 0) / specMs,
      mismatches,
      exactCountMismatches,
    };
    if (mismatches > 0) {
      log(`evaluate: ERROR ${name}: ${mismatches} prompts differ from plain greedy decoding of the target`);
    }
    if (exactCountMismatches > 0) {
      log(`evaluate: ERROR ${name}: ${exactCountMismatches} prompts have teacher-forced counts unlike the loop's`);
    }
    log(
      `evaluate: ${name} α ${alpha.toFixed(4)} (${accepted}/${accepted + rejected}), τ ${result.tau.toFixed(3)}, c ${
        costRatio.toFixed(3)
      }, predicted speed-up ${result.predictedSpeedup.toFixed(2)}×, measured ${result.measuredSpeedup.toFixed(2)}×`,
    );
    results.push(result);
  }
  return {
    gamma,
    maxNewTokens,
    prompts: prompts.length,
    timedPrompts: timed,
    storeMismatches,
    target: target_,
    drafts: results,
    records,
    continuations,
  };
}
