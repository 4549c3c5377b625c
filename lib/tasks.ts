/**
 * The five tasks of the AdaSPEC paper (Hu et al., NeurIPS 2025): GSM8K, Alpaca, MBPP, CNN/DailyMail
 * and XSUM. For each task this module defines the prompt and response template, the record fields,
 * the splits (seeded held-out splits where a dataset lacks one), the maximum lengths and a loader.
 * Its tokenisation cuts a long document inside the prompt instead of the response.
 *
 * @module
 */
import { formatGsm8k, type TextExample, type TokenExample, tokenizeExamples } from "./data.ts";
import { type DataRecord, type FieldSpec, FILE_FORMATS, type FileFormat, readRecords } from "./formats.ts";
import { Rng } from "./rng.ts";
import type { BpeTokenizer } from "./tokenizer.ts";

/** The name of a task. */
export type TaskName = "gsm8k" | "alpaca" | "mbpp" | "cnn_dailymail" | "xsum";

/** Every task name, in the order of the AdaSPEC paper's tables. */
export const TASK_NAMES: readonly TaskName[] = ["gsm8k", "alpaca", "mbpp", "cnn_dailymail", "xsum"];

/** A data split. */
export type Split = "train" | "validation" | "test";

/** Every split name. */
export const SPLITS: readonly Split[] = ["train", "validation", "test"];

/**
 * A prompt whose middle part is a document that may be shortened: `prompt` equals
 * `before + document + after`, and only `document` is ever cut.
 */
export interface PromptParts {
  /** Text before the document, kept whole. */
  before: string;
  /** The document (article), cut from its end when the sequence is too long. */
  document: string;
  /** Text after the document (the instruction), kept whole. */
  after: string;
}

/** A prompt and response, with the document part marked when the prompt contains one. */
export interface TaskExample extends TextExample {
  /** Present for summarisation tasks; `prompt === parts.before + parts.document + parts.after`. */
  parts?: PromptParts;
}

function withDocument(before: string, document: string, after: string, response: string): TaskExample {
  return { prompt: before + document + after, response, parts: { before, document, after } };
}

/**
 * The prompt and response template of each task, in one place. GSM8K's is the authors' training
 * format. The AdaSPEC paper publishes no template for the other four, so these are this project's
 * choice: plain labelled fields, with the instruction after the document. Cutting a long document
 * therefore never removes the instruction.
 */
export const TEMPLATES = {
  /**
   * GSM8K: question + the authors' instruction → the worked answer with `####` replaced by
   * `The final answer is: ` (see {@linkcode formatGsm8k}).
   */
  gsm8k: (record: { question: string; answer: string }): TaskExample => formatGsm8k(record),

  /**
   * Alpaca: `Instruction: {instruction}\n` plus `Input: {input}\n` when the input is non-empty, then
   * `Response:\n` → the output.
   */
  alpaca: (record: { instruction: string; input: string; output: string }): TaskExample => {
    const input = record.input.trim() === "" ? "" : `Input: ${record.input}\n`;
    return { prompt: `Instruction: ${record.instruction}\n${input}Response:\n`, response: record.output };
  },

  /**
   * MBPP: the problem text, then `Your code should pass this test:\n` and the first assertion of
   * `test_list`, then `Code:\n` → the reference code. The source files end code lines in CRLF; the
   * response uses LF.
   */
  mbpp: (record: { text: string; code: string; test_list: string[] }): TaskExample => {
    const test = record.test_list.length > 0 ? `Your code should pass this test:\n${record.test_list[0]}\n` : "";
    return { prompt: `${record.text}\n${test}Code:\n`, response: record.code.replaceAll("\r\n", "\n") };
  },

  /**
   * CNN/DailyMail: `Article:\n{article}` then `\n\nSummarize the article above in a few sentences.\nHighlights:\n`
   * → the highlights (one sentence per line). Only the article is cut.
   */
  cnn_dailymail: (record: { article: string; highlights: string }): TaskExample =>
    withDocument(
      "Article:\n",
      record.article,
      "\n\nSummarize the article above in a few sentences.\nHighlights:\n",
      record.highlights,
    ),

  /**
   * XSUM: `Document:\n{document}` then `\n\nSummarize the document above in one sentence.\nSummary:\n`
   * → the one-sentence summary. Only the document is cut.
   */
  xsum: (record: { document: string; summary: string }): TaskExample =>
    withDocument(
      "Document:\n",
      record.document,
      "\n\nSummarize the document above in one sentence.\nSummary:\n",
      record.summary,
    ),
} as const;

/**
 * A held-out split drawn from one source file: the file's record indices are shuffled with `seed`,
 * each split of `take` gets the next block of the shuffled indices (validation before test), and the
 * split `rest` gets everything left. Every split keeps the file's record order.
 */
export interface SplitCarve {
  /** The file stem (inside the task folder) that the records come from. */
  from: string;
  /** The shuffle seed. */
  seed: number;
  /** Records per carved split: a fraction of the file when below 1, else a count. */
  take: Partial<Record<Split, number>>;
  /** The split that receives the remaining records. */
  rest: Split;
}

/** The definition of one task: data layout, template, splits and lengths. */
export interface TaskSpec {
  /** The task's name. */
  name: TaskName;
  /** The dataset's usual name, for reports. */
  title: string;
  /** The folder inside the data directory. */
  folder: string;
  /** The record fields the template reads. */
  fields: FieldSpec[];
  /** Splits read whole from a file: split to file stem (`train` → `train.jsonl`, `.json`, `.csv` or `.parquet`). */
  files: Partial<Record<Split, string>>;
  /** Splits carved from a file; a split named here overrides the same split in `files`. */
  carve?: SplitCarve;
  /** A description of where each split comes from, for logs and reports. */
  splitNote: string;
  /** Maximum tokens of `prompt ⊕ response ⊕ EOS` in training (the authors' runs use 512). */
  maxLength: number;
  /** Maximum tokens generated per test prompt in evaluation. */
  maxNewTokens: number;
  /** Formats one checked record with the task's template. */
  format: (record: DataRecord) => TaskExample;
}

/** The seed of every carved split. */
export const SPLIT_SEED = 42;

/** The task registry. */
export const TASKS: Readonly<Record<TaskName, TaskSpec>> = {
  gsm8k: {
    name: "gsm8k",
    title: "GSM8K",
    folder: "gsm8k",
    fields: [{ name: "question", type: "string" }, { name: "answer", type: "string" }],
    files: { train: "train", test: "test" },
    carve: { from: "train", seed: SPLIT_SEED, take: { validation: 0.1 }, rest: "train" },
    splitNote:
      "test is test.jsonl; validation is 10 % of train.jsonl (747 records) by seeded shuffle 42, and train is the other 90 % in file order",
    maxLength: 512,
    maxNewTokens: 256,
    format: (record) => TEMPLATES.gsm8k(record as { question: string; answer: string }),
  },
  alpaca: {
    name: "alpaca",
    title: "Alpaca",
    folder: "alpaca",
    fields: [
      { name: "instruction", type: "string" },
      { name: "input", type: "string" },
      { name: "output", type: "string" },
    ],
    files: {},
    carve: { from: "train", seed: SPLIT_SEED, take: { validation: 0.1, test: 0.1 }, rest: "train" },
    splitNote:
      "the data has only a train split: validation and test are 10 % each of train.jsonl (500 records each of 5,000) by seeded shuffle 42, and train is the other 80 % in file order",
    maxLength: 512,
    maxNewTokens: 256,
    format: (record) => TEMPLATES.alpaca(record as { instruction: string; input: string; output: string }),
  },
  mbpp: {
    name: "mbpp",
    title: "MBPP",
    folder: "mbpp",
    fields: [
      { name: "text", type: "string" },
      { name: "code", type: "string" },
      { name: "test_list", type: "string[]" },
      { name: "task_id", type: "integer", optional: true },
    ],
    files: { train: "train", validation: "validation", test: "test" },
    splitNote:
      "the published splits by task_id: train 601-974, validation 511-600, test 11-510 (the few-shot prompt split 1-10 is not used)",
    maxLength: 512,
    maxNewTokens: 256,
    format: (record) => TEMPLATES.mbpp(record as { text: string; code: string; test_list: string[] }),
  },
  cnn_dailymail: {
    name: "cnn_dailymail",
    title: "CNN/DailyMail",
    folder: "cnn_dailymail",
    fields: [{ name: "article", type: "string" }, { name: "highlights", type: "string" }],
    files: {},
    carve: { from: "validation", seed: SPLIT_SEED, take: { validation: 1 / 7, test: 1 / 7 }, rest: "train" },
    splitNote:
      "the data has only 700 validation-split records: validation and test are 1/7 each of validation.jsonl (100 records each) by seeded shuffle 42, and train is the other 500 in file order",
    maxLength: 512,
    maxNewTokens: 128,
    format: (record) => TEMPLATES.cnn_dailymail(record as { article: string; highlights: string }),
  },
  xsum: {
    name: "xsum",
    title: "XSUM",
    folder: "xsum",
    fields: [{ name: "document", type: "string" }, { name: "summary", type: "string" }],
    files: { test: "test" },
    carve: { from: "validation", seed: SPLIT_SEED, take: { validation: 1 / 7 }, rest: "train" },
    splitNote:
      "the data has no train split: test is test.jsonl; validation is 1/7 of validation.jsonl (100 of 700 records) by seeded shuffle 42, and train is the other 600 in file order",
    maxLength: 512,
    maxNewTokens: 64,
    format: (record) => TEMPLATES.xsum(record as { document: string; summary: string }),
  },
};

/** Returns the task of that name, or an error listing the known names. */
export function getTask(name: string): TaskSpec {
  if (!(TASK_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown task "${name}"; known tasks: ${TASK_NAMES.join(", ")}`);
  }
  return TASKS[name as TaskName];
}

/** Returns the file stems a task reads (each split file and the carve's source file), without duplicates. */
export function taskFileStems(task: TaskSpec): string[] {
  const stems = new Set<string>();
  for (const split of SPLITS) {
    if (task.carve && (split === task.carve.rest || task.carve.take[split] !== undefined)) continue;
    const stem = task.files[split];
    if (stem) stems.add(stem);
  }
  if (task.carve) stems.add(task.carve.from);
  return [...stems];
}

/**
 * Divides `count` record indices into splits as `carve` describes. The result is the same for the same
 * count and carve on every run, and the splits are disjoint and cover every index.
 *
 * @example
 * ```ts
 * import { carveIndices } from "./tasks.ts";
 * const parts = carveIndices(10, { from: "train", seed: 42, take: { test: 0.2 }, rest: "train" });
 * if (parts.test?.length !== 2 || parts.train?.length !== 8) throw new Error("wrong sizes");
 * ```
 */
export function carveIndices(count: number, carve: SplitCarve): Partial<Record<Split, number[]>> {
  const shuffled = new Rng(carve.seed).shuffle([...Array(count).keys()]);
  const result: Partial<Record<Split, number[]>> = {};
  let next = 0;
  for (const split of SPLITS) {
    const size = carve.take[split];
    if (size === undefined || split === carve.rest) continue;
    const n = size < 1 ? Math.round(count * size) : size;
    if (next + n > count) {
      throw new Error(
        `cannot carve ${n} records for ${split} from the ${count - next} left in ${carve.from}; the file is too small`,
      );
    }
    result[split] = shuffled.slice(next, next + n).sort((a, b) => a - b);
    next += n;
  }
  result[carve.rest] = shuffled.slice(next).sort((a, b) => a - b);
  return result;
}

/** Options of {@linkcode loadTaskSplits} and {@linkcode loadTask}. */
export interface LoadTaskOptions {
  /** Field mapping passed to the reader: record field name to the name in the file. */
  fieldMap?: Record<string, string>;
}

/**
 * Returns the path of a split file in a task folder: `<dir>/<folder>/<stem>.<ext>` for the first of
 * jsonl, json, csv and parquet that exists, else `undefined`.
 */
export async function findSplitFile(
  dataDir: string,
  task: TaskSpec,
  stem: string,
): Promise<{ path: string; format: FileFormat } | undefined> {
  for (const format of FILE_FORMATS) {
    const path = `${dataDir}/${task.folder}/${stem}.${format}`;
    try {
      if ((await Deno.stat(path)).isFile) return { path, format };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return undefined;
}

/** Builds every split of a task from its checked records, keyed by file stem. */
export function splitTaskRecords(
  task: TaskSpec,
  recordsByStem: Record<string, DataRecord[]>,
): Record<Split, TaskExample[]> {
  const result = {} as Record<Split, TaskExample[]>;
  const carved = task.carve ? carveIndices(recordsByStem[task.carve.from].length, task.carve) : {};
  for (const split of SPLITS) {
    const indices = carved[split];
    if (indices && task.carve) {
      const source = recordsByStem[task.carve.from];
      result[split] = indices.map((i) => task.format(source[i]));
      continue;
    }
    const stem = task.files[split];
    if (!stem) throw new Error(`task ${task.name} defines no ${split} split`);
    result[split] = recordsByStem[stem].map(task.format);
  }
  return result;
}

/**
 * Loads and formats every split of a task from `<dataDir>/<folder>/`, carving the held-out splits the
 * task's `carve` describes.
 *
 * @throws {Error} When a split file is missing (the message lists the names tried) or a record is malformed.
 */
export async function loadTaskSplits(
  name: TaskName,
  dataDir: string,
  options: LoadTaskOptions = {},
): Promise<Record<Split, TaskExample[]>> {
  const task = getTask(name);
  const recordsByStem: Record<string, DataRecord[]> = {};
  for (const stem of taskFileStems(task)) {
    const found = await findSplitFile(dataDir, task, stem);
    if (!found) {
      const tried = FILE_FORMATS.map((f) => `${stem}.${f}`).join(", ");
      throw new Error(`${task.title} data not found: none of ${tried} in ${dataDir}/${task.folder}`);
    }
    recordsByStem[stem] = await readRecords(found.path, task.fields, {
      format: found.format,
      fieldMap: options.fieldMap,
    });
  }
  return splitTaskRecords(task, recordsByStem);
}

/**
 * Loads one split of a task. For GSM8K the train split is 90 % of `train.jsonl` (see the task's
 * `splitNote`); {@linkcode loadGsm8k} still reads the whole file.
 *
 * @example
 * ```ts ignore
 * const test = await loadTask("xsum", "DATA", "test");
 * console.log(test[0].prompt, test[0].response);
 * ```
 */
export async function loadTask(
  name: TaskName,
  dataDir: string,
  split: Split,
  options: LoadTaskOptions = {},
): Promise<TaskExample[]> {
  return (await loadTaskSplits(name, dataDir, options))[split];
}

/**
 * Shortens the document part of a prompt so that the prompt has at most `maxPromptTokens` tokens. The
 * document is cut at a whitespace boundary from its end; the text before and after it is kept whole.
 * An example without `parts`, or one that already fits, is returned unchanged. When even an empty
 * document does not fit, the document is emptied and the prompt stays over the limit.
 */
export function fitPrompt(
  example: TaskExample,
  tokenizer: BpeTokenizer,
  maxPromptTokens: number,
): { example: TaskExample; cut: boolean } {
  const parts = example.parts;
  if (!parts || tokenizer.encode(example.prompt).length <= maxPromptTokens) return { example, cut: false };

  // Candidate cut points: the start of every whitespace run, so no word is split.
  const cuts = [0];
  for (const match of parts.document.matchAll(/\s+/g)) {
    if (match.index! > 0) cuts.push(match.index!);
  }
  const fits = (cut: number) =>
    tokenizer.encode(parts.before + parts.document.slice(0, cut) + parts.after).length <= maxPromptTokens;

  // Token counts almost always grow with the prefix length, so a binary search finds the longest fit.
  // The walk down afterwards covers the rare case where they do not.
  let low = 0;
  let high = cuts.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (fits(cuts[middle])) low = middle;
    else high = middle - 1;
  }
  while (low > 0 && !fits(cuts[low])) low--;

  const document = parts.document.slice(0, cuts[low]);
  return { example: withDocument(parts.before, document, parts.after, example.response), cut: true };
}

/**
 * Tokenises task examples as `prompt ⊕ response ⊕ EOS` within `maxLength` tokens. A prompt with a
 * document part has the document shortened first (see {@linkcode fitPrompt}), so the response and the
 * instruction stay whole. Only when the instruction and response alone exceed `maxLength` is the
 * sequence cut from its end, as {@linkcode tokenizeExamples} does.
 *
 * @returns the token examples, the number cut from the end (`truncated`) and the number whose document
 * was shortened (`documentsCut`).
 */
export function tokenizeTaskExamples(
  examples: TaskExample[],
  tokenizer: BpeTokenizer,
  maxLength: number,
): { examples: TokenExample[]; truncated: number; documentsCut: number } {
  let documentsCut = 0;
  const fitted = examples.map((example) => {
    if (!example.parts) return example;
    const responseTokens = tokenizer.encode(example.response).length + 1;
    const result = fitPrompt(example, tokenizer, Math.max(0, maxLength - responseTokens));
    if (result.cut) documentsCut++;
    return result.example;
  });
  return { ...tokenizeExamples(fitted, tokenizer, maxLength), documentsCut };
}
