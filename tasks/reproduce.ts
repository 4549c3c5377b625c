/**
 * `deno task reproduce`: regenerates the AdaSPEC paper's tables at a chosen scale and writes a
 * report beside the published numbers.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runTable1 } from "../lib/experiments/table1.ts";
import { BACKENDS } from "../lib/backend.ts";
import { PROFILES } from "../lib/profiles.ts";

const HELP = `Usage: deno task reproduce [options]

Regenerates the paper's tables and writes results/<profile>/ and results/<profile>/REPORT.md.

Options:
  --profile NAME    model and data scale: ${Object.keys(PROFILES).join(", ")} (default small)
  --only LIST       comma-separated experiments to run; available: table1 (default table1)
  --tasks LIST      comma-separated tasks; available: gsm8k (default gsm8k)
  --data-dir DIR    folder with gsm8k/train.jsonl and gsm8k/test.jsonl (or ADASPEC_DATA_DIR)
  --backend NAME    ${BACKENDS.join(", ")} (or ADASPEC_BACKEND; default wasm)
  --out DIR         results folder (default results)
  --cache-dir DIR   cached tokenizers and checkpoints (or ADASPEC_CACHE_DIR; default .cache)
  --no-teacher-cache  run the frozen target and reference at every distillation step instead
                    of reading their outputs from a cache computed once
  -h, --help        show this help
`;

const EXPERIMENTS = ["table1"];

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        profile: { type: "string", default: "small" },
        only: { type: "string", default: "table1" },
        tasks: { type: "string", default: "gsm8k" },
        "data-dir": { type: "string" },
        backend: { type: "string" },
        out: { type: "string", default: "results" },
        "cache-dir": { type: "string" },
        "no-teacher-cache": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const only = values.only.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only.filter((name) => !EXPERIMENTS.includes(name));
  if (unknown.length > 0) {
    console.error(`error: experiment ${unknown.join(", ")} is not available yet; available: ${EXPERIMENTS.join(", ")}`);
    return 2;
  }
  try {
    const result = await runTable1({
      profile: values.profile,
      dataDir: values["data-dir"],
      backend: values.backend,
      outDir: values.out,
      cacheDir: values["cache-dir"],
      teacherCache: !values["no-teacher-cache"],
      tasks: values.tasks.split(",").map((s) => s.trim()).filter(Boolean),
    });
    console.log(result.markdown);
    return 0;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
}

Deno.exit(await main());
