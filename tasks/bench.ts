/**
 * `deno task bench`: measures training and decoding speed on every backend that starts on this
 * machine, beside PyTorch on the same model shapes, and writes results/bench.json and
 * BENCHMARKS.md. Each backend runs in its own process, because TensorFlow.js allows one active
 * backend per process.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/tf.ts";
import { type BackendInfo, initBackend } from "../lib/backend.ts";
import { type ModelShape, PROFILES } from "../lib/profiles.ts";
import { type ModelConfig, TransformerLM } from "../lib/model.ts";
import { AdamW } from "../lib/optimizer.ts";
import { type Objective, objectiveLoss, teacherOutputs } from "../lib/objective.ts";
import { makeBatch, type TokenExample } from "../lib/data.ts";
import { buildReferenceLoss, buildTeacherCache, TopKTeacherCache } from "../lib/teacher_cache.ts";
import { loadModel } from "../lib/checkpoint.ts";
import { evaluateDrafts } from "../lib/evaluate.ts";
import { BpeTokenizer } from "../lib/tokenizer.ts";
import { loadGsm8k } from "../lib/data.ts";
import { readJsonFile, writeTextAtomic } from "../lib/fs.ts";

/** Log-probs kept per position by the top-K teacher cache in the AdaSPEC step measurement. */
const TOP_K = 32;

const HELP = `Usage: deno task bench [options]

Measures every backend that starts here on the small profile's model shapes, beside PyTorch, and
writes results/bench.json and BENCHMARKS.md.

Options:
  --backends LIST  comma-separated backends to try (default wasm,tensorflow,webgpu; cpu is
                   20–40× slower than wasm and takes minutes per step at these sizes)
  --steps N        timed training steps per measurement (default 3)
  --batch N        sequences per training step (default 8)
  --length N       tokens per sequence (default 256)
  --prompts N      GSM8K test prompts for the decoding measurement (default 4)
  --python PATH    Python with torch 2.x (default .venv-bench/bin/python; set up by bench/setup_torch.sh)
  --data-dir DIR   GSM8K data for decoding prompts (or ADASPEC_DATA_DIR; default ../shared/data)
  --results DIR    folder of a finished small-profile run whose drafts are decoded (default results/small)
  --cache-dir DIR  checkpoint cache of that run (or ADASPEC_CACHE_DIR; default .cache)
  -h, --help       show this help
`;

interface Options {
  steps: number;
  batch: number;
  length: number;
  prompts: number;
  dataDir: string;
  results: string;
  cacheDir: string;
}

function timeIt(run: () => void, repeats: number): number {
  run();
  const start = performance.now();
  for (let i = 0; i < repeats; i++) run();
  return (performance.now() - start) / repeats;
}

function peakMatMul(): number {
  let best = 0;
  for (const n of [512, 1024]) {
    const a = tf.randomNormal([n, n]);
    const b = tf.randomNormal([n, n]);
    const ms = timeIt(() => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }, 5);
    tf.dispose([a, b]);
    best = Math.max(best, (2 * n ** 3) / ms / 1e6);
  }
  return best;
}

function randomExamples(count: number, length: number, vocab: number, seed: number): TokenExample[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) % vocab;
  return Array.from({ length: count }, () => ({
    ids: Int32Array.from({ length: length + 1 }, next),
    promptLength: Math.floor(length / 4),
    truncated: false,
  }));
}

/** Times `steps` optimiser steps of `objective` on one fixed batch; returns ms per step. */
function stepTime(model: TransformerLM, objective: Objective, examples: TokenExample[], steps: number): number {
  const optimizer = new AdamW(model.params, { learningRate: 1e-4 });
  const batch = makeBatch(examples, 0, objective.kind === "lm");
  const indices = examples.map((_, i) => i);
  const ms = timeIt(() => {
    const tensors = {
      ids: tf.tensor2d(batch.inputs, [batch.size, batch.length], "int32"),
      keyMask: tf.tensor2d(batch.keyMask, [batch.size, batch.length]),
      labels: tf.tensor1d(batch.labels, "int32"),
      lossMask: tf.tensor1d(batch.lossMask),
    };
    const frozen = teacherOutputs(objective, tensors.ids, tensors.keyMask, indices);
    const { value, grads } = tf.variableGrads(
      () => objectiveLoss(objective, model, batch, tensors, frozen).loss,
      model.variables(),
    );
    optimizer.apply(model.variables(), grads);
    value.dataSync();
    tf.dispose([value, grads, frozen.teacher, frozen.reference, ...Object.values(tensors)]);
  }, steps);
  optimizer.dispose();
  return ms;
}

function config(shape: ModelShape, seed: number): ModelConfig {
  const profile = PROFILES.small;
  return { vocabSize: profile.vocabSize, contextLength: profile.maxLength, ...shape, seed };
}

async function decodingMeasurements(options: Options, log: (line: string) => void) {
  let runConfig: { headline?: Record<string, string>; tokenizer: { fingerprint: string } };
  try {
    runConfig = await readJsonFile(`${options.results}/table1/gsm8k/config.json`, "small-profile GSM8K run record");
  } catch (error) {
    log(`bench: decoding skipped: ${(error as Error).message}`);
    return null;
  }
  // The run records the checkpoint folders of its timed drafts (first pair, first seed, fixed budget).
  const headline = runConfig.headline;
  const names = ["DistillSpec", "AdaSPEC (authors' protocol)", "AdaSPEC (equal data)"];
  if (!headline || !headline.target || names.some((name) => !headline[name])) {
    log(`bench: decoding skipped: ${options.results}/table1/gsm8k/config.json predates the current pipeline; rerun it`);
    return null;
  }
  const target = await loadModel(headline.target);
  const drafts = [];
  for (const name of names) drafts.push({ name, model: await loadModel(headline[name]) });
  let tokenizer: BpeTokenizer | null = null;
  for (const entry of Deno.readDirSync(options.cacheDir)) {
    if (!entry.name.startsWith("tokenizer-")) continue;
    const candidate = await BpeTokenizer.load(`${options.cacheDir}/${entry.name}`);
    if (candidate.fingerprint() === runConfig.tokenizer.fingerprint) tokenizer = candidate;
  }
  if (!tokenizer) {
    log(`bench: decoding skipped: no tokenizer in ${options.cacheDir} has the run's fingerprint`);
    return null;
  }
  const test = (await loadGsm8k(options.dataDir, "test")).slice(0, options.prompts);
  const prompts = test.map((e) => tokenizer!.encode(e.prompt));
  const gamma = PROFILES.small.gamma;
  const maxNewTokens = 128;
  const eosId = tokenizer.eosId;

  // The pipeline's own evaluation, with every prompt through the real loops.
  const evaluation = evaluateDrafts(target, drafts, prompts, {
    gamma,
    maxNewTokens,
    eosId,
    timingPrompts: prompts.length,
    log: () => {},
  });
  let greedyTokensPerSecond = 0;
  const results = evaluation.drafts.map((draft) => {
    const records = evaluation.records.filter((r) => r.draft === draft.draft);
    const tokens = records.reduce((sum, r) => sum + r.generated, 0);
    const ms = records.reduce((sum, r) => sum + (r.milliseconds ?? 0), 0);
    const tokensPerSecond = (tokens * 1000) / ms;
    // Both loops emit the same tokens, so the greedy rate follows from the measured speed-up.
    greedyTokensPerSecond = tokensPerSecond / draft.measuredSpeedup;
    log(
      `bench: speculative ${draft.draft}: ${tokensPerSecond.toFixed(0)} tok/s, α ${draft.alpha.toFixed(3)}, c ${
        draft.costRatio.toFixed(3)
      }, speed-up measured ${draft.measuredSpeedup.toFixed(2)}× vs predicted ${draft.predictedSpeedup.toFixed(2)}× (${
        (100 * draft.measuredSpeedup / draft.predictedSpeedup).toFixed(0)
      } %)`,
    );
    return {
      draft: draft.draft,
      alpha: draft.alpha,
      tau: draft.tau,
      costRatio: draft.costRatio,
      tokensPerSecond,
      predictedSpeedup: draft.predictedSpeedup,
      measuredSpeedup: draft.measuredSpeedup,
      measuredOverPredicted: draft.measuredSpeedup / draft.predictedSpeedup,
    };
  });
  log(`bench: greedy target: ${greedyTokensPerSecond.toFixed(0)} tok/s`);
  drafts.forEach(({ model }) => model.dispose());
  target.dispose();
  return { prompts: prompts.length, maxNewTokens, gamma, greedyTokensPerSecond, drafts: results };
}

/** Measures the active backend; runs inside the child process. */
async function measureBackend(backend: BackendInfo, options: Options, log: (line: string) => void) {
  const profile = PROFILES.small;
  const peak = peakMatMul();
  log(`bench: ${backend.name}: peak matMul ${peak.toFixed(1)} GFLOP/s`);
  const examples = randomExamples(options.batch, options.length, profile.vocabSize, 7);
  const tokens = options.batch * options.length;
  const training: Record<string, unknown> = {};
  const models: Record<string, TransformerLM> = {};
  for (const [role, shape] of [["target", profile.target], ["draft", profile.draft]] as const) {
    const model = TransformerLM.create(config(shape, role === "target" ? 1 : 2));
    models[role] = model;
    const ms = stepTime(model, { kind: "lm" }, examples, options.steps);
    const modelGflops = (6 * model.parameterCount * tokens) / ms / 1e6;
    training[role] = {
      parameters: model.parameterCount,
      msPerStep: ms,
      tokensPerSecond: (tokens * 1000) / ms,
      modelGflops,
      mfu: modelGflops / peak,
    };
    log(
      `bench: ${backend.name}: train ${role} (${model.parameterCount} parameters): ${ms.toFixed(0)} ms/step, ${
        ((tokens * 1000) / ms).toFixed(0)
      } tok/s, ${modelGflops.toFixed(2)} model GFLOP/s, MFU ${(100 * modelGflops / peak).toFixed(1)} %`,
    );
  }

  // AdaSPEC step of the draft: with the teacher cache, without it, and a plain SFT step.
  const reference = TransformerLM.create(config(profile.draft, 3));
  const draft = models.draft;
  const target = models.target;
  const cache = buildTeacherCache(target, examples, { padId: 0, microBatchSize: options.batch });
  const adaspec = {
    kind: "adaspec" as const,
    teacher: target,
    reference,
    divergence: "fkl" as const,
    k: profile.k,
    normalisation: "valid" as const,
    mode: "top" as const,
  };
  buildReferenceLoss(cache, reference, "fkl", { padId: 0, microBatchSize: options.batch });
  const cachedMs = stepTime(draft, { ...adaspec, cache }, examples, options.steps);
  // The top-K cache rebuilds full rows from K log-probs per position; L_ref comes from the full cache here.
  const topK = TopKTeacherCache.fromFull(cache, TOP_K);
  const topKMs = stepTime(draft, { ...adaspec, cache: topK }, examples, options.steps);
  const uncachedMs = stepTime(draft, adaspec, examples, options.steps);
  const sftMs = stepTime(draft, { kind: "sft" }, examples, options.steps);
  const adaspecStep = { cachedMs, topK: TOP_K, topKMs, uncachedMs, sftMs, cachedOverSft: cachedMs / sftMs };
  log(
    `bench: ${backend.name}: AdaSPEC step with cache ${cachedMs.toFixed(0)} ms, top-${TOP_K} cache ${
      topKMs.toFixed(0)
    } ms, without ${uncachedMs.toFixed(0)} ms, draft SFT ${sftMs.toFixed(0)} ms (cached / SFT ${
      (cachedMs / sftMs).toFixed(2)
    })`,
  );
  [target, draft, reference].forEach((m) => m.dispose());

  const decoding = await decodingMeasurements(options, log);
  return { backend, peakGflops: peak, training, adaspecStep, decoding };
}

function runTorch(python: string, shape: ModelShape, options: Options, threads: number, log: (line: string) => void) {
  const profile = PROFILES.small;
  const args = [
    "bench/torch_step.py",
    "--vocab",
    String(profile.vocabSize),
    "--context",
    String(profile.maxLength),
    "--layers",
    String(shape.layers),
    "--width",
    String(shape.width),
    "--heads",
    String(shape.heads),
    "--mlp",
    String(shape.mlpWidth),
    "--batch",
    String(options.batch),
    "--length",
    String(options.length),
    "--steps",
    String(Math.max(options.steps, 3)),
    "--threads",
    String(threads),
  ];
  const out = new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    log(`bench: PyTorch failed: ${new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)}`);
    return null;
  }
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  return JSON.parse(line);
}

function parseOptions(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      backends: { type: "string", default: "wasm,tensorflow,webgpu" },
      child: { type: "string" },
      steps: { type: "string", default: "3" },
      batch: { type: "string", default: "8" },
      length: { type: "string", default: "256" },
      prompts: { type: "string", default: "4" },
      python: { type: "string", default: ".venv-bench/bin/python" },
      "data-dir": { type: "string" },
      results: { type: "string", default: "results/small" },
      "cache-dir": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  const numbers = {
    steps: Number(values.steps),
    batch: Number(values.batch),
    length: Number(values.length),
    prompts: Number(values.prompts),
  };
  for (const [name, value] of Object.entries(numbers)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} ${value} is invalid: use a positive integer`);
  }
  const options: Options = {
    ...numbers,
    dataDir: values["data-dir"] ?? Deno.env.get("ADASPEC_DATA_DIR") ?? "../shared/data",
    results: values.results,
    cacheDir: values["cache-dir"] ?? Deno.env.get("ADASPEC_CACHE_DIR") ?? ".cache",
  };
  return { values, options };
}

function renderMarkdown(report: Record<string, unknown>): string {
  const lines = [
    "# Benchmarks",
    "",
    `Measured by \`deno task bench\` on ${report.date}: ${report.cores} cores, ${report.cpu}. Training shapes are the \`small\` profile's target and draft, batch ${report.batch} × ${report.length} tokens, AdamW; the model FLOP count is 6 per parameter per token.`,
    "",
    "## Training step",
    "",
    "| backend | model | parameters | ms/step | tokens/s | model GFLOP/s | MFU | PyTorch tokens/s | ours / PyTorch |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const backends = report.backends as Record<string, unknown>[];
  const torch = report.torch as Record<string, { tokens_per_second: number; torch: string; threads: number }> | null;
  for (const b of backends) {
    const training = b.training as Record<
      string,
      { parameters: number; msPerStep: number; tokensPerSecond: number; modelGflops: number; mfu: number }
    >;
    for (const role of ["target", "draft"]) {
      const t = training[role];
      const reference = torch?.[role]?.tokens_per_second;
      lines.push(
        `| ${(b.backend as BackendInfo).name} | ${role} | ${t.parameters} | ${t.msPerStep.toFixed(0)} | ${
          t.tokensPerSecond.toFixed(0)
        } | ${t.modelGflops.toFixed(2)} | ${(100 * t.mfu).toFixed(1)} % | ${reference ? reference.toFixed(0) : "—"} | ${
          reference ? (t.tokensPerSecond / reference).toFixed(2) : "—"
        } |`,
      );
    }
  }
  if (torch) {
    const t = torch.target as unknown as { torch: string; threads: number; blas: { blas_info?: string } };
    lines.push("", `PyTorch ${t.torch}, ${t.threads} threads, BLAS ${t.blas?.blas_info ?? "unknown"}.`);
  } else {
    lines.push("", "PyTorch was not measured (run `bash bench/setup_torch.sh` first).");
  }
  lines.push(
    "",
    "## Peak matMul and AdaSPEC step",
    "",
    "| backend | peak GFLOP/s | AdaSPEC step with cache (ms) | with top-K cache (ms) | without cache (ms) | draft SFT step (ms) | cached / SFT |",
    "|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const b of backends) {
    const a = b.adaspecStep as {
      cachedMs: number;
      topK?: number;
      topKMs?: number;
      uncachedMs: number;
      sftMs: number;
      cachedOverSft: number;
    };
    const topK = a.topKMs === undefined ? "—" : `${a.topKMs.toFixed(0)} (K = ${a.topK})`;
    lines.push(
      `| ${(b.backend as BackendInfo).name} | ${(b.peakGflops as number).toFixed(1)} | ${
        a.cachedMs.toFixed(0)
      } | ${topK} | ${a.uncachedMs.toFixed(0)} | ${a.sftMs.toFixed(0)} | ${a.cachedOverSft.toFixed(2)} |`,
    );
  }
  lines.push("", "## Decoding", "");
  let anyDecoding = false;
  for (const b of backends) {
    const d = b.decoding as
      | {
        prompts: number;
        maxNewTokens: number;
        greedyTokensPerSecond: number;
        drafts: Record<string, number | string>[];
      }
      | null;
    if (!d) continue;
    anyDecoding = true;
    lines.push(
      `${
        (b.backend as BackendInfo).name
      }: ${d.prompts} GSM8K test prompts, up to ${d.maxNewTokens} new tokens, plain greedy target ${
        d.greedyTokensPerSecond.toFixed(0)
      } tok/s.`,
      "",
      "| draft | α | τ | c | tokens/s | predicted speed-up | measured speed-up | measured / predicted |",
      "|---|---:|---:|---:|---:|---:|---:|---:|",
      ...d.drafts.map((r) =>
        `| ${r.draft} | ${(r.alpha as number).toFixed(3)} | ${(r.tau as number).toFixed(2)} | ${
          (r.costRatio as number).toFixed(3)
        } | ${(r.tokensPerSecond as number).toFixed(0)} | ${(r.predictedSpeedup as number).toFixed(2)}× | ${
          (r.measuredSpeedup as number).toFixed(2)
        }× | ${(100 * (r.measuredOverPredicted as number)).toFixed(0)} % |`
      ),
      "",
    );
  }
  if (!anyDecoding) {
    lines.push("Not measured: no finished `small` run was found (run `deno task reproduce` first).", "");
  }
  const failed = report.failedBackends as string[];
  if (failed.length > 0) lines.push("## Backends that did not start", "", ...failed.map((f) => `- ${f}`), "");
  return lines.join("\n");
}

// Removes `name VALUE` and `name=VALUE` from a command line.
function withoutOption(args: string[], name: string): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) {
      i++;
      continue;
    }
    if (!args[i].startsWith(`${name}=`)) kept.push(args[i]);
  }
  return kept;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(Deno.args);
  } catch (error) {
    console.error(`error: ${(error as Error).message}; run with --help for the options`);
    return 2;
  }
  const { values, options } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const log = (line: string) => console.error(line);

  // Child process: measure one backend and print its JSON on stdout.
  if (values.child) {
    const backend = await initBackend(values.child);
    console.log(JSON.stringify(await measureBackend(backend, options, log)));
    return 0;
  }

  const requested = values.backends.split(",").map((s) => s.trim()).filter(Boolean);
  const backends: unknown[] = [];
  const failedBackends: string[] = [];
  for (const name of requested) {
    log(`bench: measuring backend ${name}`);
    const childArgs = [
      "run",
      "-A",
      import.meta.filename!,
      "--child",
      name,
      ...withoutOption(Deno.args, "--backends"),
    ];
    const out = new Deno.Command(Deno.execPath(), { args: childArgs, stdout: "piped", stderr: "piped" }).outputSync();
    const errors = new TextDecoder().decode(out.stderr);
    Deno.stderr.writeSync(out.stderr);
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success || !text) {
      // Keep the child's own error line, without colour codes, as the reason.
      // deno-lint-ignore no-control-regex -- Deno colours its error output.
      const plain = errors.replace(/\x1b\[[0-9;]*m/g, "");
      const reason = plain.split("\n").find((line) => /^error|Error:/.test(line.trim()))?.trim() ?? "no error line";
      failedBackends.push(`${name}: failed: ${reason}`);
      continue;
    }
    backends.push(JSON.parse(text.split("\n").at(-1)!));
  }

  let torch: Record<string, unknown> | null = null;
  try {
    Deno.statSync(values.python);
    const threads = navigator.hardwareConcurrency;
    const profile = PROFILES.small;
    torch = {
      target: runTorch(values.python, profile.target, options, threads, log),
      draft: runTorch(values.python, profile.draft, options, threads, log),
    };
    for (const role of ["target", "draft"]) {
      const t = torch[role] as { tokens_per_second: number; torch: string } | null;
      if (t) log(`bench: PyTorch ${t.torch} ${role}: ${t.tokens_per_second.toFixed(0)} tok/s with ${threads} threads`);
    }
  } catch {
    log(`bench: PyTorch not measured: ${values.python} not found; run bash bench/setup_torch.sh`);
  }

  const cpu = (() => {
    try {
      return Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
    } catch {
      return "unknown CPU";
    }
  })();
  const report = {
    date: new Date().toISOString(),
    cores: navigator.hardwareConcurrency,
    cpu,
    ...options,
    backends,
    failedBackends,
    torch,
  };
  await writeTextAtomic("results/bench.json", JSON.stringify(report, null, 2) + "\n");
  await writeTextAtomic("BENCHMARKS.md", renderMarkdown(report) + "\n");
  log("bench: wrote results/bench.json and BENCHMARKS.md");
  return backends.length > 0 ? 0 : 1;
}

Deno.exit(await main());
