/**
 * `deno task bench`: prints training and decoding throughput of the `small` profile's target and
 * draft shapes on one backend, and the peak matMul rate measured in the same run, and writes
 * them to results/bench.json.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/tf.ts";
import { BACKENDS, initBackend } from "../lib/backend.ts";
import { type ModelShape, PROFILES } from "../lib/profiles.ts";
import { TransformerLM } from "../lib/model.ts";
import { AdamW } from "../lib/optimizer.ts";
import { crossEntropyRows, maskedMean } from "../lib/objective.ts";
import { greedyDecode } from "../lib/speculative.ts";
import { writeTextAtomic } from "../lib/fs.ts";

const HELP = `Usage: deno task bench [options]

Measures one backend on the small profile's model shapes and writes results/bench.json.

Options:
  --backend NAME   ${BACKENDS.join(", ")} (or ADASPEC_BACKEND; default wasm)
  --steps N        timed training steps per model (default 3)
  --batch N        sequences per training step (default 8)
  --length N       tokens per sequence (default 256)
  --out FILE       result file (default results/bench.json)
  -h, --help       show this help
`;

function timeIt(run: () => void, repeats: number): number {
  run();
  const start = performance.now();
  for (let i = 0; i < repeats; i++) run();
  return (performance.now() - start) / repeats;
}

function trainingStep(shape: ModelShape, vocabSize: number, batch: number, length: number, steps: number) {
  const model = TransformerLM.create({ vocabSize, contextLength: length + 1, ...shape, seed: 1 });
  const optimizer = new AdamW(model.params, { learningRate: 1e-4 });
  const ids = tf.randomUniform([batch, length], 0, vocabSize, "int32", 1) as tf.Tensor2D;
  const labels = tf.randomUniform([batch * length], 0, vocabSize, "int32", 2) as tf.Tensor1D;
  const mask = tf.ones([batch * length]) as tf.Tensor1D;
  const ms = timeIt(() => {
    const { value, grads } = tf.variableGrads(
      () => maskedMean(crossEntropyRows(model.forward(ids), labels), mask, batch * length),
      model.variables(),
    );
    optimizer.apply(model.variables(), grads);
    value.dataSync();
    tf.dispose([value, grads]);
  }, steps);
  // Model FLOPs of a training step: 6 per parameter per token (forward 2, backward 4).
  const flops = 6 * model.parameterCount * batch * length;
  const result = {
    parameters: model.parameterCount,
    msPerStep: ms,
    tokensPerSecond: (batch * length * 1000) / ms,
    modelGflops: flops / ms / 1e6,
  };
  optimizer.dispose();
  model.dispose();
  tf.dispose([ids, labels, mask]);
  return result;
}

function decoding(shape: ModelShape, vocabSize: number, contextLength: number) {
  const model = TransformerLM.create({ vocabSize, contextLength, ...shape, seed: 1 });
  const prompt = Array.from({ length: 64 }, (_, i) => (i * 7) % vocabSize);
  const tokens = 128;
  const ms = timeIt(() => greedyDecode(model, prompt, tokens, -1), 2);
  model.dispose();
  return { tokensPerSecond: (tokens * 1000) / ms, msPerToken: ms / tokens };
}

function peakMatMul(): number {
  const n = 1024;
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const ms = timeIt(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }, 5);
  tf.dispose([a, b]);
  return (2 * n ** 3) / ms / 1e6;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        backend: { type: "string" },
        steps: { type: "string", default: "3" },
        batch: { type: "string", default: "8" },
        length: { type: "string", default: "256" },
        out: { type: "string", default: "results/bench.json" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const numbers = { steps: Number(values.steps), batch: Number(values.batch), length: Number(values.length) };
  for (const [name, value] of Object.entries(numbers)) {
    if (!Number.isInteger(value) || value < 1) {
      console.error(`error: --${name} ${value} is invalid; use a positive integer`);
      return 2;
    }
  }
  const backend = await initBackend(values.backend);
  const profile = PROFILES.small;
  console.log(
    `bench: backend ${backend.name} ${backend.version} (${backend.detail}), ${navigator.hardwareConcurrency} cores`,
  );
  const peak = peakMatMul();
  console.log(`bench: peak matMul 1024³ ${peak.toFixed(1)} GFLOP/s`);
  const result: Record<string, unknown> = {
    backend,
    date: new Date().toISOString(),
    cores: navigator.hardwareConcurrency,
    peakGflops: peak,
    ...numbers,
  };
  for (const [role, shape] of [["target", profile.target], ["draft", profile.draft]] as const) {
    const step = trainingStep(shape, profile.vocabSize, numbers.batch, numbers.length, numbers.steps);
    const decode = decoding(shape, profile.vocabSize, profile.maxLength);
    console.log(
      `bench: ${role} ${step.parameters} parameters: train ${step.msPerStep.toFixed(0)} ms/step, ${
        step.tokensPerSecond.toFixed(0)
      } tok/s, model ${step.modelGflops.toFixed(2)} GFLOP/s (MFU ${
        (100 * step.modelGflops / peak).toFixed(1)
      } %); greedy decoding ${decode.tokensPerSecond.toFixed(0)} tok/s`,
    );
    result[role] = { ...step, mfu: step.modelGflops / peak, decode };
  }
  await writeTextAtomic(values.out, JSON.stringify(result, null, 2) + "\n");
  console.log(`bench: wrote ${values.out}`);
  return 0;
}

Deno.exit(await main());
