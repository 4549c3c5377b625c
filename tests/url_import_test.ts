// Serves the repository over HTTP on 127.0.0.1 and runs a program from a
// temporary folder, with no deno.json and no import map, that imports mod.ts
// by URL. The program trains a tiny target and draft on real GSM8K records
// and checks that speculative decoding reproduces the target's greedy output.
//
// Needs GSM8K at $ADASPEC_DATA_DIR/gsm8k/{train,test}.jsonl (DEFAULT_DATA_DIR
// when the variable is unset), and the npm packages that lib/ pins, either in
// the Deno cache or fetched from the npm registry.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const REPO_ROOT = new URL("../", import.meta.url);
const DEFAULT_DATA_DIR = new URL("../shared/data/", REPO_ROOT);
const DATA_DIR_ENV = "ADASPEC_DATA_DIR";

// Wall-clock limit for each consumer command. With warm caches a run takes
// seconds, and the limit leaves room for a first run that downloads npm packages.
const CONSUMER_TIMEOUT_MS = 10 * 60 * 1000;

// Lines of the consumer's stderr to include in a failure message.
const STDERR_TAIL_LINES = 40;

// Training settings shared by the consumer and the assertions below.
const TRAIN_RECORDS = 24;
const BATCH_SIZE = 8;
const MAX_STEPS = 3;
const MAX_NEW_TOKENS = 16;

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript",
  ".js": "application/javascript",
  ".mjs": "application/javascript",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

function contentType(path: string): string {
  const dot = path.lastIndexOf(".");
  const extension = dot === -1 ? "" : path.slice(dot);
  return CONTENT_TYPES[extension] ?? "application/octet-stream";
}

// Serves files under REPO_ROOT for GET and HEAD. Paths with a `..` segment
// are rejected with 400 so that no file outside the repository is served.
async function serveRepositoryFile(request: Request): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }

  const rawPath = new URL(request.url).pathname;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return new Response(`invalid path encoding: ${rawPath}\n`, { status: 400 });
  }
  if (path.split(/[\\/]/).includes("..")) {
    return new Response(`path with "..": ${path}\n`, { status: 400 });
  }

  const fileUrl = new URL(`.${path}`, REPO_ROOT);
  let body: Uint8Array<ArrayBuffer>;
  try {
    const info = await Deno.stat(fileUrl);
    if (!info.isFile) return new Response(`not found: ${path}\n`, { status: 404 });
    body = await Deno.readFile(fileUrl);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return new Response(`not found: ${path}\n`, { status: 404 });
    }
    throw error;
  }

  const headers = { "content-type": contentType(path), "content-length": String(body.byteLength) };
  return new Response(request.method === "HEAD" ? null : body, { headers });
}

// Returns the consumer program. It uses only what mod.ts exports.
function consumerSource(modUrl: string): string {
  return `import {
  acceptanceRate,
  BpeTokenizer,
  greedyDecode,
  initBackend,
  loadGsm8k,
  speculativeDecode,
  tokenizeExamples,
  train,
  TransformerLM,
} from "${modUrl}";

const dataDir = Deno.env.get("${DATA_DIR_ENV}");
if (!dataDir) throw new Error("missing environment variable ${DATA_DIR_ENV}: set it to the folder that contains gsm8k/");

await initBackend("wasm");

const records = (await loadGsm8k(dataDir, "train")).slice(0, ${TRAIN_RECORDS});
const tokenizer = BpeTokenizer.train(records.map((r) => r.prompt + r.response), { vocabSize: 300 });
const { examples } = tokenizeExamples(records, tokenizer, 256);

const shape = { layers: 1, heads: 2, contextLength: 256, vocabSize: tokenizer.vocabSize, seed: 1 };
const target = TransformerLM.create({ ...shape, width: 32, mlpWidth: 64 });
const draft = TransformerLM.create({ ...shape, width: 16, mlpWidth: 64 });

const config = { epochs: 1, batchSize: ${BATCH_SIZE}, learningRate: 3e-3, seed: 1, maxSteps: ${MAX_STEPS} };
const targetSummary = await train(target, examples, { kind: "sft" }, config, {
  label: "target",
  padId: tokenizer.eosId,
});
const draftSummary = await train(draft, examples, { kind: "kd", teacher: target, divergence: "fkl" }, config, {
  label: "draft",
  padId: tokenizer.eosId,
});

// With this tokenizer GSM8K test prompts take 107 to 638 tokens, which can
// exceed the 256-token context, so the prompt is cut to its first 128 tokens.
const [testRecord] = await loadGsm8k(dataDir, "test");
const promptIds = tokenizer.encode(testRecord.prompt).slice(0, 128);
const eosId = tokenizer.eosId;
const speculative = speculativeDecode(target, draft, promptIds, { gamma: 4, maxNewTokens: ${MAX_NEW_TOKENS}, eosId });
const greedy = greedyDecode(target, promptIds, ${MAX_NEW_TOKENS}, eosId);

const identical = speculative.tokens.length === greedy.tokens.length &&
  speculative.tokens.every((token, i) => token === greedy.tokens[i]);
console.log(JSON.stringify({
  steps: { target: targetSummary.steps, draft: draftSummary.steps },
  accepted: speculative.accepted,
  rejected: speculative.rejected,
  acceptanceRate: acceptanceRate(speculative.accepted, speculative.rejected),
  targetCalls: speculative.targetCalls,
  generated: speculative.tokens.length,
  identical,
}));
target.dispose();
draft.dispose();
`;
}

interface ConsumerResult {
  steps: { target: number; draft: number };
  accepted: number;
  rejected: number;
  acceptanceRate: number;
  targetCalls: number;
  generated: number;
  identical: boolean;
}

async function resolveDataDir(): Promise<string> {
  const dir = Deno.env.get(DATA_DIR_ENV) ?? fileURLToPath(DEFAULT_DATA_DIR).replace(/\/$/, "");
  const trainFile = `${dir}/gsm8k/train.jsonl`;
  try {
    await Deno.stat(trainFile);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `GSM8K not found: ${trainFile} is missing. Set ${DATA_DIR_ENV} to a folder that contains ` +
          `gsm8k/train.jsonl and gsm8k/test.jsonl.`,
      );
    }
    throw error;
  }
  return dir;
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

Deno.test("mod.ts imported by URL without import map", async () => {
  const dataDir = await resolveDataDir();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, serveRepositoryFile);
  const tempDir = await Deno.makeTempDir({ prefix: "adaspec_url_consumer_" });
  try {
    const origin = `http://127.0.0.1:${server.addr.port}`;

    // The server serves only files inside the repository.
    const missing = await fetch(`${origin}/no_such_file.ts`);
    await missing.body?.cancel();
    assert.equal(missing.status, 404, "missing file");
    const escaping = await fetch(`${origin}/lib/..%2fdeno.json`);
    await escaping.body?.cancel();
    assert.equal(escaping.status, 400, "path with a .. segment");
    const modResponse = await fetch(`${origin}/mod.ts`);
    await modResponse.body?.cancel();
    assert.equal(modResponse.headers.get("content-type"), "application/typescript", "content type of mod.ts");

    await Deno.writeTextFile(`${tempDir}/main.ts`, consumerSource(`${origin}/mod.ts`));

    // Deno 2.9.6 rejects a remote import without --allow-import unless the
    // host is on its default list, such as deno.land, jsr.io and esm.sh.
    // The run also needs the data folder's environment variable and reads of
    // the GSM8K files and of the wasm backend's .wasm file in the Deno cache.
    const allowImport = `--allow-import=127.0.0.1:${server.addr.port}`;
    const permissions = [allowImport, `--allow-env=${DATA_DIR_ENV}`, "--allow-read"];

    // Type-checks the consumer in Deno's default strict mode against the
    // library's exported types (remote modules themselves are not checked).
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-lock", allowImport, "main.ts"],
      cwd: tempDir,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(CONSUMER_TIMEOUT_MS),
    }).output();
    assert.equal(
      check.code,
      0,
      `deno check of the consumer failed with code ${check.code}; stderr tail:\n` +
        tail(new TextDecoder().decode(check.stderr), STDERR_TAIL_LINES),
    );

    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", `--reload=${origin}`, ...permissions, "main.ts"],
      cwd: tempDir,
      env: { [DATA_DIR_ENV]: dataDir },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(CONSUMER_TIMEOUT_MS),
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);

    assert.equal(
      output.code,
      0,
      `consumer exited with code ${output.code} (signal ${output.signal}); stderr tail:\n` +
        tail(stderr, STDERR_TAIL_LINES),
    );

    const jsonLine = stdout.split("\n").findLast((line) => line.startsWith("{"));
    assert.ok(jsonLine, `consumer printed no JSON line; stdout:\n${stdout}`);
    const result = JSON.parse(jsonLine) as ConsumerResult;

    const plannedSteps = Math.min(Math.ceil(TRAIN_RECORDS / BATCH_SIZE), MAX_STEPS);
    assert.equal(result.steps.target, plannedSteps, "target training steps");
    assert.equal(result.steps.draft, plannedSteps, "draft training steps");
    assert.equal(result.identical, true, "speculative decoding must reproduce the target's greedy tokens");

    // Each block proposes at least one token. It emits its accepted proposals
    // and then a correction or a bonus token, unless it stops at EOS or at the
    // token limit, so it always emits at least one token.
    assert.ok(result.accepted + result.rejected > 0, "no draft token was judged");
    assert.ok(result.generated >= 1, `generated ${result.generated} tokens, expected at least 1`);
    assert.ok(
      result.generated <= MAX_NEW_TOKENS,
      `generated ${result.generated} tokens, over the limit ${MAX_NEW_TOKENS}`,
    );
    assert.ok(result.generated >= result.targetCalls, "each target call emits at least one token");
    assert.ok(
      result.generated >= result.accepted + result.rejected,
      "each accepted proposal and each rejection emits one token",
    );
    assert.ok(
      result.generated <= result.accepted + result.rejected + result.targetCalls,
      "at most one bonus token per target call",
    );
    assert.ok(result.acceptanceRate >= 0, `acceptance rate ${result.acceptanceRate} is negative`);
    assert.ok(result.acceptanceRate <= 1, `acceptance rate ${result.acceptanceRate} is over 1`);
  } finally {
    await server.shutdown();
    await Deno.remove(tempDir, { recursive: true });
  }
});
