/**
 * GSM8K loading, the prompt and response format, tokenisation with a loss mask over the response
 * and EOS, truncation, and seeded batching.
 *
 * @module
 */
import type { BpeTokenizer } from "./tokenizer.ts";
import { Rng } from "./rng.ts";

/** The environment variable naming the data folder, which contains one subfolder per task (`gsm8k/train.jsonl`, …). */
export const DATA_DIR_ENV = "ADASPEC_DATA_DIR";

/** One prompt and its reference response, as text. */
export interface TextExample {
  prompt: string;
  response: string;
}

/** A tokenised training sequence `prompt ⊕ response ⊕ EOS`. */
export interface TokenExample {
  /** All token ids of the sequence. */
  ids: Int32Array;
  /** Number of prompt tokens at the start of `ids`. */
  promptLength: number;
  /** True when the sequence was cut to the maximum length. */
  truncated: boolean;
}

/** The instruction appended to every GSM8K question (the authors' training code uses this text). */
export const GSM8K_INSTRUCTION =
  "\nAnswer the above question. First think step by step and then answer the final number.\n";

/**
 * Formats one GSM8K record: the question plus the instruction is the prompt; the answer with
 * `####` replaced by `The final answer is: ` is the response. The authors' code keeps the space
 * that followed `####`, so two spaces precede the number.
 *
 * @example
 * ```ts
 * import { formatGsm8k } from "./data.ts";
 * const { response } = formatGsm8k({ question: "1+1?", answer: "1+1=2\n#### 2" });
 * if (response !== "1+1=2\nThe final answer is:  2") throw new Error(response);
 * ```
 */
export function formatGsm8k(record: { question: string; answer: string }): TextExample {
  return {
    prompt: record.question + GSM8K_INSTRUCTION,
    response: record.answer.replaceAll("####", "The final answer is: "),
  };
}

/** Returns the data folder from the option, else `ADASPEC_DATA_DIR`, else an error saying how to set it. */
export function resolveDataDir(option?: string): string {
  const dir = option ?? Deno.env.get(DATA_DIR_ENV);
  if (!dir) {
    throw new Error(
      `no data folder given: pass --data-dir DIR or set ${DATA_DIR_ENV}=DIR, where DIR contains gsm8k/train.jsonl and gsm8k/test.jsonl`,
    );
  }
  return dir;
}

/**
 * Reads a JSON Lines file of objects and checks that each has the string fields `fields`.
 * A malformed line is rejected with the file, the line number and the field.
 */
export async function readJsonLines(path: string, fields: string[]): Promise<Record<string, string>[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`data file not found: ${path}; check --data-dir or ${DATA_DIR_ENV}`);
    }
    throw error;
  }
  const records: Record<string, string>[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new Error(`${path}:${i + 1}: invalid JSON (${(error as Error).message}); fix or remove the line`);
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new Error(`${path}:${i + 1}: expected a JSON object per line`);
    }
    for (const field of fields) {
      const value = (record as Record<string, unknown>)[field];
      if (typeof value !== "string") {
        throw new Error(`${path}:${i + 1}: field "${field}" is missing or not a string`);
      }
    }
    records.push(record as Record<string, string>);
  }
  if (records.length === 0) throw new Error(`${path}: no records; the split is empty`);
  return records;
}

/** Loads a GSM8K split (`train` or `test`) from `<dataDir>/gsm8k/<split>.jsonl`, formatted. */
export async function loadGsm8k(dataDir: string, split: "train" | "test"): Promise<TextExample[]> {
  const records = await readJsonLines(`${dataDir}/gsm8k/${split}.jsonl`, ["question", "answer"]);
  return records.map((r) => formatGsm8k({ question: r.question, answer: r.answer }));
}

/**
 * Tokenises examples as `prompt ⊕ response ⊕ EOS`, cut to `maxLength` tokens from the end (the
 * prompt is kept whole when it fits, so a cut loses the response's tail and its EOS).
 */
export function tokenizeExamples(
  examples: TextExample[],
  tokenizer: BpeTokenizer,
  maxLength: number,
): { examples: TokenExample[]; truncated: number } {
  let truncated = 0;
  const result = examples.map((example) => {
    const prompt = tokenizer.encode(example.prompt);
    const response = tokenizer.encode(example.response);
    let ids = [...prompt, ...response, tokenizer.eosId];
    const cut = ids.length > maxLength;
    if (cut) {
      truncated++;
      ids = ids.slice(0, maxLength);
    }
    return { ids: Int32Array.from(ids), promptLength: Math.min(prompt.length, maxLength), truncated: cut };
  });
  return { examples: result, truncated };
}

/** A padded batch, row-major [size × length]. */
export interface Batch {
  size: number;
  length: number;
  /** Input ids: tokens 0 … n−2 of each sequence, padded with EOS. */
  inputs: Int32Array;
  /** Label ids: tokens 1 … n−1, so the logits at position t predict label t. */
  labels: Int32Array;
  /** 1 where the label is a response token or the EOS, 0 on prompt and padding positions. */
  lossMask: Float32Array;
  /** 1 on real input tokens, 0 on padding. */
  keyMask: Float32Array;
  /** Number of positions with lossMask 1. */
  validCount: number;
}

/**
 * Pads examples into a batch. With `allTokens` every real position is a loss position (language
 * model pretraining); otherwise only response tokens and the EOS are.
 */
export function makeBatch(examples: TokenExample[], padId: number, allTokens = false): Batch {
  const length = Math.max(...examples.map((e) => e.ids.length)) - 1;
  const size = examples.length;
  const inputs = new Int32Array(size * length).fill(padId);
  const labels = new Int32Array(size * length).fill(padId);
  const lossMask = new Float32Array(size * length);
  const keyMask = new Float32Array(size * length);
  let validCount = 0;
  examples.forEach((example, row) => {
    const n = example.ids.length - 1;
    for (let t = 0; t < n; t++) {
      inputs[row * length + t] = example.ids[t];
      labels[row * length + t] = example.ids[t + 1];
      keyMask[row * length + t] = 1;
      // Label t is token t + 1: it belongs to the response once t + 1 ≥ promptLength.
      if (allTokens || t + 1 >= example.promptLength) {
        lossMask[row * length + t] = 1;
        validCount++;
      }
    }
  });
  return { size, length, inputs, labels, lossMask, keyMask, validCount };
}

/** Splits `count` indices into shuffled batches of `batchSize` (the last may be smaller) with a seed per epoch. */
export function batchOrder(count: number, batchSize: number, seed: number, epoch: number): number[][] {
  const order = new Rng(seed * 1000003 + epoch).shuffle([...Array(count).keys()]);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}
