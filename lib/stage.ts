/**
 * Cached training stages. A stage's checkpoint lives in `<cacheDir>/<name>-<hash>/`. The hash
 * covers everything that determines the stage: its config, its parents' keys, the tokenizer and
 * the data. So a rerun reuses the checkpoint, and a changed config never reuses a stale one.
 *
 * @module
 */
import { hashText, stableStringify } from "./rng.ts";
import type { TransformerLM } from "./model.ts";
import { loadModel, saveModel } from "./checkpoint.ts";
import { readJsonFile, writeTextAtomic } from "./fs.ts";
import type { TrainSummary } from "./train.ts";
import { activeBackend } from "./backend.ts";

/** A finished stage: its model, cache key and training summary. */
export interface StageResult {
  name: string;
  key: string;
  dir: string;
  model: TransformerLM;
  summary: TrainSummary;
  /** True when the checkpoint came from the cache. */
  cached: boolean;
  /** Backend and version that trained the checkpoint, for example `wasm 4.22.0`. */
  trainedOn: string;
}

/** Returns the cache key of a stage from its name and determining inputs. */
export function stageKey(name: string, inputs: unknown): string {
  return `${name}-${hashText(stableStringify({ name, inputs }))}`;
}

/**
 * Loads the stage from the cache, or runs `build` and stores its model. `build` receives the
 * stage folder so it can write a checkpoint per epoch under `<dir>/epoch-<n>/`.
 */
export async function runStage(
  cacheDir: string,
  name: string,
  inputs: unknown,
  build: (dir: string) => Promise<{ model: TransformerLM; summary: TrainSummary }>,
  log: (line: string) => void,
): Promise<StageResult> {
  const key = stageKey(name, inputs);
  const dir = `${cacheDir}/${key}`;
  try {
    const done = await readJsonFile<{ summary: TrainSummary; trainedOn?: string }>(`${dir}/done.json`, "stage record");
    const model = await loadModel(dir);
    const trainedOn = done.trainedOn ?? "unknown";
    log(`${name}: reusing cached checkpoint ${dir} (trained on ${trainedOn})`);
    return { name, key, dir, model, summary: done.summary, cached: true, trainedOn };
  } catch (error) {
    const message = (error as Error).message;
    if (!message.includes("not found")) {
      log(`${name}: cached checkpoint in ${dir} is unusable (${message}); training it again`);
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  await writeTextAtomic(`${dir}/inputs.json`, JSON.stringify(inputs, null, 2) + "\n");
  const { model, summary } = await build(dir);
  await saveModel(model, dir);
  const backend = activeBackend();
  const trainedOn = backend ? `${backend.name} ${backend.version}` : "unknown";
  // done.json is written last: its presence marks a complete stage.
  await writeTextAtomic(`${dir}/done.json`, JSON.stringify({ name, key, trainedOn, summary }, null, 2) + "\n");
  return { name, key, dir, model, summary, cached: false, trainedOn };
}

/** Saves `model` as the checkpoint of epoch `epoch` inside a stage folder. */
export async function saveEpochCheckpoint(dir: string, epoch: number, model: TransformerLM): Promise<void> {
  await saveModel(model, `${dir}/epoch-${epoch}`);
}
