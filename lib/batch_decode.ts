/**
 * Batched greedy decoding: several prompts share one KV cache, left-padded to a common length,
 * so each forward call decodes one token for every prompt.
 *
 * @module
 */
import type { KvCache, TransformerLM } from "./model.ts";
import { argmaxRows } from "./ops.ts";

/**
 * Decodes each prompt greedily, `batchSize` prompts per forward call, and returns the generated
 * tokens per prompt. Each prompt gets the same budget as {@link greedyDecode} alone would
 * (`maxNewTokens`, cut to the context length), so the outputs match it up to floating-point
 * rounding of near-tied logits.
 */
export function greedyDecodeBatch(
  model: TransformerLM,
  prompts: number[][],
  options: { maxNewTokens: number; eosId: number; batchSize: number },
): number[][] {
  const { maxNewTokens, eosId, batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`invalid batch size ${batchSize}: use a positive integer`);
  }
  const context = model.config.contextLength;
  const vocab = model.config.vocabSize;
  const outputs: number[][] = prompts.map(() => []);
  // Prompts of similar length share a batch, which keeps padding short.
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length);

  for (let start = 0; start < order.length; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    const longest = Math.max(...rows.map((i) => prompts[i].length));
    const padding = rows.map((i) => longest - prompts[i].length);
    const budgets = rows.map((i) => {
      if (prompts[i].length === 0) throw new Error(`prompt ${i} is empty: give at least one token`);
      const room = context - prompts[i].length;
      if (room < 1) {
        throw new Error(`prompt ${i} of ${prompts[i].length} tokens leaves no room in the context length ${context}`);
      }
      return Math.min(maxNewTokens, room);
    });
    const done = rows.map(() => false);
    let feed = rows.map((i, r) => [...Array(padding[r]).fill(eosId), ...prompts[i]]);
    let cache: KvCache | null = null;
    try {
      while (!done.every(Boolean)) {
        const out: { logits: Float32Array; cache: KvCache } = model.decode(feed, cache, padding);
        cache = out.cache;
        const width = feed[0].length;
        const next = rows.map((_, r) =>
          argmaxRows(out.logits.subarray(((r + 1) * width - 1) * vocab, (r + 1) * width * vocab), vocab)[0]
        );
        rows.forEach((i, r) => {
          if (done[r]) return;
          outputs[i].push(next[r]);
          if (next[r] === eosId || outputs[i].length >= budgets[r]) done[r] = true;
        });
        // Finished rows keep decoding a placeholder token whose output is ignored.
        feed = rows.map((_, r) => [done[r] ? eosId : next[r]]);
      }
    } finally {
      cache?.dispose();
    }
  }
  return outputs;
}
