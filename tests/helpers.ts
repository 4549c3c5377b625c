/** Shared set-up for the test suites: the data folder and small real models. */
import { initBackend } from "../lib/backend.ts";
import { loadGsm8k, type TextExample, type TokenExample, tokenizeExamples } from "../lib/data.ts";
import { BpeTokenizer } from "../lib/tokenizer.ts";
import { type ModelConfig, TransformerLM } from "../lib/model.ts";

/** Returns the data folder: ADASPEC_DATA_DIR, else ../shared/data beside the repository. */
export function dataDir(): string {
  const dir = Deno.env.get("ADASPEC_DATA_DIR") ?? new URL("../../shared/data", import.meta.url).pathname;
  try {
    Deno.statSync(`${dir}/gsm8k/train.jsonl`);
  } catch {
    throw new Error(`GSM8K data not found in ${dir}: set ADASPEC_DATA_DIR to the folder holding gsm8k/train.jsonl`);
  }
  return dir;
}

/** Initialises the wasm backend once for a test file. */
export async function setUpBackend(): Promise<void> {
  await initBackend("wasm");
}

/**
 * Creates a model whose weights are the seeded initialisation times `scale`: a scale above 1
 * gives peaked logits, so argmax ties from rounding noise are unlikely.
 */
export function scaledModel(config: ModelConfig, scale: number): TransformerLM {
  const base = TransformerLM.create(config);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, variable] of base.params) {
    const data = (variable.dataSync() as Float32Array).map((v) => (name.endsWith(".g") ? v : v * scale));
    weights.set(name, { shape: variable.shape, data });
  }
  base.dispose();
  return TransformerLM.fromWeights(config, weights);
}

/**
 * Loads the first `count` GSM8K training records, trains a tokenizer of `vocabSize` on them and
 * tokenises them to at most `maxLength` tokens.
 */
export async function gsm8kExamples(
  count: number,
  vocabSize: number,
  maxLength: number,
): Promise<{ texts: TextExample[]; tokenizer: BpeTokenizer; examples: TokenExample[] }> {
  const texts = (await loadGsm8k(dataDir(), "train")).slice(0, count);
  const tokenizer = BpeTokenizer.train(texts.map((t) => t.prompt + t.response), { vocabSize });
  const { examples } = tokenizeExamples(texts, tokenizer, maxLength);
  return { texts, tokenizer, examples };
}
