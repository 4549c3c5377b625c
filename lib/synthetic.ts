/**
 * Built-in synthetic stand-ins for the five tasks, used when neither a data folder, a cache nor a
 * download is available. Each generator is seeded and deterministic and writes records with the real
 * dataset's fields, so they go through the same templates and splits. The text is simple and
 * repetitive: results on it show that the pipeline runs, not how well a method works.
 *
 * @module
 */
import type { DataRecord } from "./formats.ts";
import { Rng } from "./rng.ts";
import { type Split, splitTaskRecords, type TaskExample, taskFileStems, type TaskName, TASKS } from "./tasks.ts";

/** Records generated per file stem of each task (before any carve). */
export const SYNTHETIC_SIZES: Readonly<Record<TaskName, Record<string, number>>> = {
  gsm8k: { train: 400, test: 100 },
  alpaca: { train: 500 },
  mbpp: { train: 120, validation: 30, test: 50 },
  cnn_dailymail: { validation: 400 },
  xsum: { validation: 300, test: 100 },
};

const NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun"];
const ITEMS = ["apples", "pencils", "stickers", "books", "marbles", "cookies", "stamps", "shells"];
const PLACES = ["Riverton", "Lakeside", "Northfield", "Port Avery", "Elm Valley", "Stonebridge"];
const TOPICS = ["a new library", "a flood defence", "a football final", "a bus strike", "a science prize", "a bridge"];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

/** Generates an arithmetic word problem and its step-by-step solution in GSM8K's format (`<<a=b>>`, `#### n`). */
function arithmeticProblem(rng: Rng): DataRecord {
  const name = pick(rng, NAMES);
  const item = pick(rng, ITEMS);
  const start = 2 + rng.int(20);
  const groups = 2 + rng.int(5);
  const perGroup = 2 + rng.int(9);
  const givenAway = 1 + rng.int(start);
  const bought = groups * perGroup;
  const total = start + bought - givenAway;
  return {
    question: `${name} has ${start} ${item}. ${name} buys ${groups} packs with ${perGroup} ${item} in each pack ` +
      `and then gives ${givenAway} ${item} to a friend. How many ${item} does ${name} have now?`,
    answer: `The packs hold ${groups} * ${perGroup} = <<${groups}*${perGroup}=${bought}>>${bought} ${item}.\n` +
      `After buying, ${name} has ${start} + ${bought} = <<${start}+${bought}=${start + bought}>>${
        start + bought
      } ${item}.\n` +
      `After giving some away, ${name} has ${start + bought} - ${givenAway} = <<${
        start + bought
      }-${givenAway}=${total}>>${total} ${item}.\n` +
      `#### ${total}`,
  };
}

/** Generates an instruction, an optional input and the expected response. */
function instruction(rng: Rng): DataRecord {
  const kind = rng.int(4);
  if (kind === 0) {
    const step = 2 + rng.int(8);
    const count = 3 + rng.int(4);
    const multiples = Array.from({ length: count }, (_, i) => step * (i + 1));
    return { instruction: `List the first ${count} multiples of ${step}.`, input: "", output: multiples.join(", ") };
  }
  if (kind === 1) {
    const numbers = Array.from({ length: 4 + rng.int(4) }, () => rng.int(100));
    return {
      instruction: "Sort the numbers in ascending order.",
      input: numbers.join(", "),
      output: [...numbers].sort((a, b) => a - b).join(", "),
    };
  }
  if (kind === 2) {
    const word = pick(rng, ITEMS);
    return { instruction: "Write the word backwards.", input: word, output: [...word].reverse().join("") };
  }
  const place = pick(rng, PLACES);
  const topic = pick(rng, TOPICS);
  return {
    instruction: `Write one sentence about ${topic} in ${place}.`,
    input: "",
    output: `People in ${place} are talking about ${topic}.`,
  };
}

/** Generates a Python problem statement, its solution and three assertions. */
function pythonProblem(rng: Rng, id: number): DataRecord {
  const kind = rng.int(3);
  const offset = 1 + rng.int(9);
  if (kind === 0) {
    const name = `add_${offset}`;
    return {
      text: `Write a function to add ${offset} to every element of a list.`,
      code: `def ${name}(items):\r\n    return [x + ${offset} for x in items]`,
      test_list: [1, 2, 3].map((n) => `assert ${name}([${n}, ${n * 2}]) == [${n + offset}, ${n * 2 + offset}]`),
      task_id: id,
    };
  }
  if (kind === 1) {
    const name = `count_over_${offset}`;
    return {
      text: `Write a function to count the elements of a list that are greater than ${offset}.`,
      code: `def ${name}(items):\r\n    return sum(1 for x in items if x > ${offset})`,
      test_list: [0, 5, 10].map((n) => {
        const items = [n, n + 1, n + 2];
        return `assert ${name}([${items.join(", ")}]) == ${items.filter((x) => x > offset).length}`;
      }),
      task_id: id,
    };
  }
  const name = `repeat_${offset}`;
  return {
    text: `Write a function to repeat a string ${offset} times.`,
    code: `def ${name}(text):\r\n    return text * ${offset}`,
    test_list: ["a", "ab", "xyz"].map((s) => `assert ${name}("${s}") == "${s.repeat(offset)}"`),
    task_id: id,
  };
}

/** Generates a short news story as sentences, with its first two kept apart for summaries. */
function story(rng: Rng): { sentences: string[]; lead: string; second: string } {
  const place = pick(rng, PLACES);
  const topic = pick(rng, TOPICS);
  const name = pick(rng, NAMES);
  const count = 10 + rng.int(900);
  const lead = `Officials in ${place} announced ${topic} on Monday.`;
  const second = `${name}, a local organiser, said about ${count} people were involved.`;
  const filler = [
    `The plan was first discussed last year.`,
    `Residents asked questions at a public meeting.`,
    `The council will publish more details next month.`,
    `Some shops in ${place} stayed open late.`,
    `Weather in the region was mild for the season.`,
    `A spokesperson declined to comment on the cost.`,
  ];
  const sentences = [lead, second, ...rng.shuffle(filler).slice(0, 3 + rng.int(4))];
  return { sentences, lead, second };
}

/** Generates `count` records of a task's file `stem` with a seed; the same arguments give the same records. */
export function synthesizeRecords(task: TaskName, stem: string, count: number, seed: number): DataRecord[] {
  // Each file gets its own stream, so adding records to one file leaves the others unchanged.
  let streamSeed = seed;
  for (const char of `${task}/${stem}`) streamSeed = (streamSeed * 31 + char.charCodeAt(0)) >>> 0;
  const rng = new Rng(streamSeed);
  const records: DataRecord[] = [];
  for (let i = 0; i < count; i++) {
    if (task === "gsm8k") records.push(arithmeticProblem(rng));
    else if (task === "alpaca") records.push(instruction(rng));
    else if (task === "mbpp") records.push(pythonProblem(rng, i + 1));
    else if (task === "cnn_dailymail") {
      const { sentences, lead, second } = story(rng);
      records.push({ article: sentences.join(" "), highlights: `${lead}\n${second}`, id: `synthetic-${i}` });
    } else {
      const { sentences, lead } = story(rng);
      records.push({ document: sentences.slice(1).join("\n"), summary: lead, id: `synthetic-${i}` });
    }
  }
  return records;
}

/**
 * Builds every split of a synthetic stand-in for a task, with the task's templates and carve.
 *
 * @example
 * ```ts
 * import { loadSyntheticSplits } from "./synthetic.ts";
 * const splits = loadSyntheticSplits("gsm8k");
 * if (!splits.test[0].response.includes("The final answer is:")) throw new Error("not GSM8K-style");
 * ```
 */
export function loadSyntheticSplits(name: TaskName, seed = 1): Record<Split, TaskExample[]> {
  const task = TASKS[name];
  const recordsByStem: Record<string, DataRecord[]> = {};
  for (const stem of taskFileStems(task)) {
    recordsByStem[stem] = synthesizeRecords(name, stem, SYNTHETIC_SIZES[name][stem], seed);
  }
  return splitTaskRecords(task, recordsByStem);
}
