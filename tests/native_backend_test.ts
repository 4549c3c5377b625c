/**
 * Tests the `tensorflow` backend. Without a built tfjs-node binding (the usual case in CI, because
 * `deno task setup-native` took 57 s on a 2-core machine and unpacks about 1 GB) only the
 * install-hint test runs. With one, the parity test compares logits and gradients against wasm.
 */
import assert from "node:assert/strict";
import { initBackend, nativePackageCandidates } from "../lib/backend.ts";

const candidates = await nativePackageCandidates();
const installed = candidates.find((candidate) => {
  try {
    return Deno.statSync(candidate.binding).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name: "tensorflow backend missing gives install hint",
  ignore: installed !== undefined,
  async fn() {
    // initBackend rejects before it changes the active backend, so this runs in the test process.
    await assert.rejects(() => initBackend("tensorflow"), (error: Error) => {
      assert.match(error.message, /deno task setup-native/);
      assert.match(error.message, /ADASPEC_TFJS_NODE_DIR/);
      return true;
    });
  },
});

/**
 * Runs a small model on wasm and then on tensorflow in one process and prints a JSON line with
 * the active backend names and the maximum absolute differences of logits and gradients.
 */
const PARITY_SCRIPT = `
import { initBackend } from ${JSON.stringify(new URL("../lib/backend.ts", import.meta.url).href)};
import { TransformerLM } from ${JSON.stringify(new URL("../lib/model.ts", import.meta.url).href)};
import { tf } from ${JSON.stringify(new URL("../lib/tf.ts", import.meta.url).href)};

const config = { vocabSize: 64, contextLength: 32, layers: 2, width: 32, heads: 4, mlpWidth: 64, seed: 5 };
const ids = Array.from({ length: 2 * 16 }, (_, i) => (i * 37 + 11) % config.vocabSize);

async function run(name) {
  await initBackend(name);
  const model = TransformerLM.create(config);
  const input = tf.tensor2d(ids, [2, 16], "int32");
  const logits = model.forward(input).dataSync();
  const { value, grads } = tf.variableGrads(() => model.forward(input).square().mean(), model.variables());
  const gradients = Object.keys(grads).sort().map((key) => grads[key].dataSync());
  tf.dispose([value, grads, input]);
  model.dispose();
  return { backend: tf.getBackend(), logits, gradients };
}

function maxAbsDiff(a, b) {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const wasm = await run("wasm");
const native = await run("tensorflow");
const gradientDiff = Math.max(...wasm.gradients.map((g, i) => maxAbsDiff(g, native.gradients[i])));
console.log(JSON.stringify({
  backends: [wasm.backend, native.backend],
  logitDiff: maxAbsDiff(wasm.logits, native.logits),
  gradientDiff,
  gradientCount: native.gradients.length,
}));
`;

Deno.test({
  name: "tensorflow backend matches wasm",
  ignore: installed === undefined,
  async fn() {
    // The active backend is process-wide, so the comparison runs in a child process and the
    // other test files keep wasm.
    const script = await Deno.makeTempFile({ suffix: ".js" });
    try {
      await Deno.writeTextFile(script, PARITY_SCRIPT);
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const errors = new TextDecoder().decode(stderr);
      assert.equal(code, 0, `parity script failed:\n${errors}`);
      const lines = new TextDecoder().decode(stdout).trim().split("\n");
      const result = JSON.parse(lines[lines.length - 1]);
      assert.deepEqual(result.backends, ["wasm", "tensorflow"]);
      assert.equal(result.gradientCount, 28);
      assert.ok(result.logitDiff < 1e-3, `max |logit difference| ${result.logitDiff} is not below 1e-3`);
      assert.ok(result.gradientDiff < 1e-3, `max |gradient difference| ${result.gradientDiff} is not below 1e-3`);
    } finally {
      await Deno.remove(script);
    }
  },
});
