/**
 * `deno task reproduce`: regenerates the AdaSPEC paper's tables at a chosen scale and writes a
 * report beside the published numbers.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isAbsolute, join } from "node:path";
import { runTable1 } from "../lib/experiments/table1.ts";
import { BACKENDS, resolveBackendName } from "../lib/backend.ts";
import { getProfile, PROFILES } from "../lib/profiles.ts";
import { TASK_NAMES } from "../lib/tasks.ts";
import { PAIRS } from "../lib/experiments/table1_summary.ts";

const HELP = `Usage: deno task reproduce [options]

Regenerates the paper's tables into <out>/<profile>/ and writes <out>/<profile>/REPORT.md.
Relative paths are taken from the folder where the command was started.

Options:
  --profile NAME    model and data scale: ${Object.keys(PROFILES).join(", ")} (default small)
  --only LIST       comma-separated experiments to run; available: table1 (default table1)
  --tasks LIST      comma-separated tasks: ${TASK_NAMES.join(", ")} (default all five)
  --pairs LIST      comma-separated size gaps: ${PAIRS.join(", ")} (default both)
  --data-dir DIR    folder with one subfolder per task, e.g. gsm8k/train.jsonl (or ADASPEC_DATA_DIR);
                    a task missing there comes from the cache, a download, or a synthetic stand-in
  --no-download     never download a missing task; use the synthetic stand-in instead
  --backend NAME    ${BACKENDS.join(", ")} (or ADASPEC_BACKEND; default wasm)
  --out DIR         results folder (default results)
  --cache-dir DIR   cached tokenizers and checkpoints (or ADASPEC_CACHE_DIR; default .cache)
  --no-teacher-cache
                    run the frozen target and reference at every distillation step instead
                    of reading their outputs from a cache computed once
  --teacher-top-k K distil from the K largest teacher log-probs per position, the rest of the
                    mass spread evenly (default: the full distribution); the error is logged
  -h, --help        show this help
`;

const EXPERIMENTS = ["table1"];
const TASKS = [...TASK_NAMES];

// deno task runs in the folder of deno.json; INIT_CWD is the folder the user started it from.
function fromStartFolder(path: string | undefined): string | undefined {
  if (path === undefined || isAbsolute(path)) return path;
  return join(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
}

function parseList(option: string, value: string, allowed: string[]): string[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`--${option} is empty: use one or more of ${allowed.join(", ")}`);
  const unknown = items.filter((item) => !allowed.includes(item));
  if (unknown.length > 0) {
    throw new Error(`--${option} ${unknown.join(", ")} is not available: use one or more of ${allowed.join(", ")}`);
  }
  return items;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        profile: { type: "string", default: "small" },
        only: { type: "string", default: "table1" },
        tasks: { type: "string", default: TASKS.join(",") },
        pairs: { type: "string", default: PAIRS.join(",") },
        "data-dir": { type: "string" },
        backend: { type: "string" },
        out: { type: "string", default: "results" },
        "cache-dir": { type: "string" },
        "no-teacher-cache": { type: "boolean", default: false },
        "teacher-top-k": { type: "string" },
        "no-download": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs explains some errors over several lines; the first one names the problem.
    const firstLine = (error as Error).message.split("\n")[0];
    const message = firstLine.replace(/^./, (c) => c.toLowerCase()).replace(/\.$/, "");
    console.error(`error: ${message}; run with --help for the options`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }

  // Usage errors exit with 2 before any work starts; failures during the run exit with 1.
  let tasks: string[];
  let pairs: string[];
  let teacherTopK: number | undefined;
  try {
    if (values["teacher-top-k"] !== undefined) {
      teacherTopK = Number(values["teacher-top-k"]);
      if (!Number.isInteger(teacherTopK) || teacherTopK < 1) {
        throw new Error(`invalid --teacher-top-k ${values["teacher-top-k"]}: use a positive integer`);
      }
    }
    parseList("only", values.only, EXPERIMENTS);
    tasks = parseList("tasks", values.tasks, TASKS);
    pairs = parseList("pairs", values.pairs, [...PAIRS]);
    getProfile(values.profile);
    resolveBackendName(values.backend);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }

  try {
    const result = await runTable1({
      profile: values.profile,
      dataDir: fromStartFolder(values["data-dir"]),
      backend: values.backend,
      outDir: fromStartFolder(values.out),
      cacheDir: fromStartFolder(values["cache-dir"]),
      teacherCache: !values["no-teacher-cache"],
      download: !values["no-download"],
      tasks,
      pairs,
      teacherTopK,
    });
    console.log(result.markdown);
    return 0;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
}

Deno.exit(await main());
