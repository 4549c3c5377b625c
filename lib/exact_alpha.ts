/**
 * Acceptance counts without running the decoding loop. Under greedy verification every counted
 * draft proposal is conditioned on a prefix of the target's own greedy continuation. So one
 * teacher-forced draft forward over prompt ⊕ continuation gives the draft's proposal at every
 * position. Walking the blocks over those proposals reproduces the decoding loop's counts exactly.
 *
 * @module
 */
import { tf } from "./tf.ts";
import type { TransformerLM } from "./model.ts";
import { argmaxRows, readValues } from "./ops.ts";

/** Accepted and rejected counts of one prompt. */
export interface AcceptanceCounts {
  accepted: number;
  rejected: number;
  /** Target forward calls the decoding loop would make. */
  targetCalls: number;
}

/**
 * Walks greedy speculative blocks over a stored target continuation, given the draft's argmax
 * after each prefix (`proposals[j]` follows prompt ⊕ continuation[0 … j−1]). `budget` is the
 * maximum number of new tokens the decoding loop allowed.
 *
 * @example
 * ```ts
 * import { walkBlocks } from "./exact_alpha.ts";
 * // γ = 2: block 1 accepts 5 and rejects 9 (target emits 6); block 2 accepts 7 and 8, bonus 4.
 * const counts = walkBlocks([5, 9, 7, 8], [5, 6, 7, 8, 4], 2, 10, 0);
 * if (counts.accepted !== 3 || counts.rejected !== 1 || counts.targetCalls !== 2) throw new Error(JSON.stringify(counts));
 * ```
 */
export function walkBlocks(
  proposals: ArrayLike<number>,
  continuation: ArrayLike<number>,
  gamma: number,
  budget: number,
  eosId: number,
): AcceptanceCounts {
  let accepted = 0, rejected = 0, targetCalls = 0;
  let position = 0;
  const length = continuation.length;
  while (position < length) {
    const lookahead = Math.min(gamma, budget - position);
    if (lookahead <= 0) break;
    targetCalls++;
    let matched = 0;
    let ended = false;
    while (matched < lookahead) {
      if (proposals[position + matched] !== continuation[position + matched]) break;
      accepted++;
      if (continuation[position + matched] === eosId) {
        ended = true;
        break;
      }
      matched++;
    }
    if (ended) break;
    if (matched < lookahead) {
      // The first mismatch: the target's own token is emitted in its place.
      rejected++;
      position += matched + 1;
    } else {
      // All proposals accepted: the target adds a bonus token when the budget allows.
      position += matched + (position + matched < budget ? 1 : 0);
    }
  }
  return { accepted, rejected, targetCalls };
}

/**
 * Returns the draft's greedy proposal after every prefix of `continuation` with one
 * teacher-forced forward over prompt ⊕ continuation (ties go to the lowest token id).
 */
export function teacherForcedProposals(draft: TransformerLM, prompt: number[], continuation: number[]): number[] {
  const sequence = [...prompt, ...continuation];
  // The last continuation token needs no proposal after it.
  const inputs = sequence.slice(0, Math.max(sequence.length - 1, prompt.length));
  if (inputs.length > draft.config.contextLength) {
    throw new Error(
      `prompt and continuation of ${inputs.length} tokens exceed the draft's context length ${draft.config.contextLength}`,
    );
  }
  const logits = readValues(() => draft.forward(tf.tensor2d(inputs, [1, inputs.length], "int32")));
  const vocab = draft.config.vocabSize;
  const first = prompt.length - 1;
  return argmaxRows(logits.subarray(first * vocab), vocab).slice(0, continuation.length);
}

/**
 * Returns the acceptance counts that greedy speculative decoding of `draft` against the target
 * would give on `prompt`, from the target's stored greedy `continuation` (as produced with the
 * same `maxNewTokens`).
 */
export function exactAcceptance(
  draft: TransformerLM,
  prompt: number[],
  continuation: number[],
  options: { gamma: number; maxNewTokens: number; eosId: number; targetContextLength: number },
): AcceptanceCounts {
  const room = Math.min(options.targetContextLength, draft.config.contextLength) - prompt.length;
  const budget = Math.min(options.maxNewTokens, room);
  if (continuation.length === 0) return { accepted: 0, rejected: 0, targetCalls: 0 };
  const proposals = teacherForcedProposals(draft, prompt, continuation);
  return walkBlocks(proposals, continuation, options.gamma, budget, options.eosId);
}

/**
 * Returns {@link exactAcceptance} for every prompt, given the target's stored greedy continuation
 * of each: α of a draft on a whole prompt set from one teacher-forced forward per prompt.
 */
export function exactAcceptanceAll(
  draft: TransformerLM,
  prompts: number[][],
  continuations: number[][],
  options: { gamma: number; maxNewTokens: number; eosId: number; targetContextLength: number },
): AcceptanceCounts[] {
  if (prompts.length !== continuations.length) {
    throw new Error(`${continuations.length} continuations for ${prompts.length} prompts; decode the target again`);
  }
  return prompts.map((prompt, i) => exactAcceptance(draft, prompt, continuations[i], options));
}
