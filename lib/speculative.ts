/**
 * Greedy decoding and greedy speculative decoding with KV caches, with acceptance statistics.
 *
 * Counting rule per block: each proposal equal to the target's argmax counts as accepted. The
 * first mismatch counts once as rejected, and the target's token is emitted in its place. Later
 * proposals of the block count neither way. If all proposals are accepted the target's next
 * argmax is emitted as a bonus token. Decoding stops at EOS (nothing after an accepted EOS is
 * emitted) or after `maxNewTokens`.
 *
 * @module
 */
import type { TransformerLM } from "./model.ts";
import { KvCache } from "./model.ts";
import { argmaxRows } from "./ops.ts";

/** Output of one decoding run. */
export interface DecodeResult {
  /** Generated tokens (the prompt excluded), ending with EOS when the model stopped. */
  tokens: number[];
  /** Forward calls of the target. */
  targetCalls: number;
  /** Forward calls of the draft. */
  draftCalls: number;
  /** Accepted draft proposals. */
  accepted: number;
  /** Rejected blocks (one per first mismatch). */
  rejected: number;
  /** Wall time in milliseconds. */
  milliseconds: number;
  /** Milliseconds spent in target and draft forward calls. */
  targetMilliseconds: number;
  draftMilliseconds: number;
}

function checkPrompt(model: TransformerLM, prompt: number[], maxNewTokens: number): number {
  if (prompt.length === 0) throw new Error("empty prompt: give at least one token");
  const room = model.config.contextLength - prompt.length;
  if (room < 1) {
    throw new Error(
      `prompt of ${prompt.length} tokens leaves no room in the context length ${model.config.contextLength}`,
    );
  }
  return Math.min(maxNewTokens, room);
}

/** Decodes greedily with `model` alone (ties go to the lowest token id). */
export function greedyDecode(
  model: TransformerLM,
  prompt: number[],
  maxNewTokens: number,
  eosId: number,
): DecodeResult {
  const budget = checkPrompt(model, prompt, maxNewTokens);
  const start = performance.now();
  const vocab = model.config.vocabSize;
  const tokens: number[] = [];
  let cache: KvCache | null = null;
  let pending = prompt;
  let calls = 0;
  try {
    while (tokens.length < budget) {
      const out = model.decode([pending], cache);
      cache = out.cache;
      calls++;
      const next = argmaxRows(out.logits.subarray((pending.length - 1) * vocab), vocab)[0];
      tokens.push(next);
      if (next === eosId) break;
      pending = [next];
    }
  } finally {
    cache?.dispose();
  }
  const milliseconds = performance.now() - start;
  return {
    tokens,
    targetCalls: calls,
    draftCalls: 0,
    accepted: 0,
    rejected: 0,
    milliseconds,
    targetMilliseconds: milliseconds,
    draftMilliseconds: 0,
  };
}

/**
 * Decodes with greedy speculative decoding: the draft proposes up to γ tokens, the target checks
 * them in one forward call. The output equals {@link greedyDecode} of the target.
 */
export function speculativeDecode(
  target: TransformerLM,
  draft: TransformerLM,
  prompt: number[],
  options: { gamma: number; maxNewTokens: number; eosId: number },
): DecodeResult {
  const { gamma, eosId } = options;
  if (!Number.isInteger(gamma) || gamma < 1) throw new Error(`invalid lookahead γ = ${gamma}: use a positive integer`);
  if (target.config.vocabSize !== draft.config.vocabSize) {
    throw new Error(
      `target and draft vocabularies differ (${target.config.vocabSize} vs ${draft.config.vocabSize}); train both with one tokenizer`,
    );
  }
  const budget = Math.min(
    checkPrompt(target, prompt, options.maxNewTokens),
    checkPrompt(draft, prompt, options.maxNewTokens),
  );
  const vocab = target.config.vocabSize;
  const start = performance.now();
  const sequence = [...prompt];
  const generated: number[] = [];
  let targetCache: KvCache | null = null;
  let draftCache: KvCache | null = null;
  let targetCalls = 0, draftCalls = 0, accepted = 0, rejected = 0;
  let targetMilliseconds = 0, draftMilliseconds = 0;
  let finished = false;

  try {
    while (!finished && generated.length < budget) {
      // The last block proposes only as many tokens as remain before the budget.
      const lookahead = Math.min(gamma, budget - generated.length);

      // Draft: feed what its cache lacks, then its own proposals one at a time.
      const proposals: number[] = [];
      const draftStart = performance.now();
      let feed = sequence.slice(draftCache?.length ?? 0);
      for (let i = 0; i < lookahead; i++) {
        const out = draft.decode([feed], draftCache);
        draftCache = out.cache;
        draftCalls++;
        const next = argmaxRows(out.logits.subarray((feed.length - 1) * vocab), vocab)[0];
        proposals.push(next);
        feed = [next];
      }
      draftMilliseconds += performance.now() - draftStart;

      // Target: one call over the tokens its cache lacks plus all proposals.
      const targetStart = performance.now();
      const targetFeed = [...sequence.slice(targetCache?.length ?? 0), ...proposals];
      const out = target.decode([targetFeed], targetCache);
      targetCache = out.cache;
      targetCalls++;
      targetMilliseconds += performance.now() - targetStart;
      // Row j of `choices` is the target's argmax after sequence ⊕ proposals[0 … j−1].
      const firstRow = targetFeed.length - proposals.length - 1;
      const choices = argmaxRows(out.logits.subarray(firstRow * vocab), vocab);

      let allAccepted = true;
      for (let i = 0; i < proposals.length; i++) {
        if (proposals[i] === choices[i]) {
          accepted++;
          sequence.push(proposals[i]);
          generated.push(proposals[i]);
          if (proposals[i] === eosId) {
            finished = true;
            allAccepted = false;
            break;
          }
        } else {
          rejected++;
          sequence.push(choices[i]);
          generated.push(choices[i]);
          if (choices[i] === eosId) finished = true;
          allAccepted = false;
          break;
        }
      }
      if (allAccepted && generated.length < budget) {
        const bonus = choices[proposals.length];
        sequence.push(bonus);
        generated.push(bonus);
        if (bonus === eosId) finished = true;
      }

      // Both caches keep only positions of the real sequence, minus its last token (not yet fed).
      targetCache.truncate(sequence.length - 1);
      draftCache!.truncate(Math.min(draftCache!.length, sequence.length - 1));
    }
  } finally {
    targetCache?.dispose();
    draftCache?.dispose();
  }
  return {
    tokens: generated,
    targetCalls,
    draftCalls,
    accepted,
    rejected,
    milliseconds: performance.now() - start,
    targetMilliseconds,
    draftMilliseconds,
  };
}

/**
 * Returns the acceptance rate α = accepted / (accepted + rejected). Throws when nothing was
 * proposed, because α is undefined there.
 *
 * @example
 * ```ts
 * import { acceptanceRate } from "./speculative.ts";
 * if (acceptanceRate(4, 1) !== 0.8) throw new Error("4 accepted, 1 rejected gives 0.8");
 * ```
 */
export function acceptanceRate(accepted: number, rejected: number): number {
  if (accepted + rejected === 0) throw new Error("acceptance rate undefined: no draft token was proposed");
  return accepted / (accepted + rejected);
}

/**
 * Returns the block efficiency τ = (1 − α^(γ+1)) / (1 − α): expected tokens per target call
 * under i.i.d. acceptance.
 *
 * @example
 * ```ts
 * import { blockEfficiency } from "./speculative.ts";
 * if (Math.abs(blockEfficiency(0.6, 3) - 2.176) > 1e-9) throw new Error("τ(0.6, 3) = 2.176");
 * ```
 */
export function blockEfficiency(alpha: number, gamma: number): number {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`invalid acceptance rate ${alpha}: use a value in [0, 1]`);
  if (alpha === 1) return gamma + 1;
  return (1 - alpha ** (gamma + 1)) / (1 - alpha);
}

/** Returns the predicted wall-time speed-up τ / (γ·c + 1), with c = draft cost / target cost. */
export function predictedSpeedup(alpha: number, gamma: number, costRatio: number): number {
  return blockEfficiency(alpha, gamma) / (gamma * costRatio + 1);
}

/**
 * Counts accepted and rejected proposals from per-block acceptance flags by the rule above.
 *
 * @example
 * ```ts
 * import { countAcceptance } from "./speculative.ts";
 * const { accepted, rejected } = countAcceptance([[1, 0, 1], [1, 1, 1]]);
 * if (accepted !== 4 || rejected !== 1) throw new Error(`${accepted} ${rejected}`);
 * ```
 */
export function countAcceptance(blocks: ArrayLike<number>[]): { accepted: number; rejected: number; emitted: number } {
  let accepted = 0, rejected = 0, emitted = 0;
  for (const flags of blocks) {
    let i = 0;
    while (i < flags.length && flags[i]) i++;
    accepted += i;
    if (i < flags.length) {
      rejected++;
      emitted += i + 1;
    } else {
      emitted += i + 1;
    }
  }
  return { accepted, rejected, emitted };
}
