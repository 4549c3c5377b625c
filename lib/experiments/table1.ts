/**
 * Table 1: DistillSpec against AdaSPEC on each requested task, for two draft/target size gaps, two
 * training budgets and two comparison protocols, over several seeds.
 *
 * Per task, the pipeline pretrains the target on the training text and fine-tunes it; one target
 * serves both gaps. Per gap and seed it pretrains a draft and distils the reference (DistillSpec,
 * forward KL on every response token) to the largest epoch of the profile's grid, keeping every
 * epoch. The fixed budget (`distill.epochs`, 3 in the paper) and the optimal-epoch budget (the
 * epoch of the grid with the best validation α) each select a reference checkpoint. From the same
 * pretrained draft, AdaSPEC drafts train against each selected reference under both protocols.
 * Test α comes from exact teacher-forced counts over the target's stored greedy continuations.
 * The first seed of the large gap also runs the real decoding loops for speed and the lossless
 * check.
 *
 * @module
 */
import { resolve } from "node:path";
import { type BackendInfo, initBackend } from "../backend.ts";
import { BpeTokenizer } from "../tokenizer.ts";
import { DATA_DIR_ENV, type TextExample } from "../data.ts";
import { fitPrompt, getTask, TASK_NAMES, type TaskName, tokenizeTaskExamples } from "../tasks.ts";
import { type DataSource, resolveTaskData } from "../sources.ts";
import { TransformerLM } from "../model.ts";
import type { ModelConfig } from "../model.ts";
import { train, type TrainConfig } from "../train.ts";
import type { Objective } from "../objective.ts";
import { getProfile, type ModelShape, type Profile, type StageBudget } from "../profiles.ts";
import { runStage, saveEpochCheckpoint, type StageResult } from "../stage.ts";
import { distinctNgramRatio, evaluateDrafts, type EvaluationResult } from "../evaluate.ts";
import { type AcceptanceCounts, exactAcceptanceAll } from "../exact_alpha.ts";
import { greedyDecodeBatch } from "../batch_decode.ts";
import { loadModel } from "../checkpoint.ts";
import { hashText, Rng, stableStringify } from "../rng.ts";
import {
  buildReferenceLoss,
  buildTeacherCache,
  countLossPositions,
  loadCachedArray,
  saveCachedArray,
  TeacherCache,
  type TeacherSource,
  type TopKError,
  topKError,
  TopKTeacherCache,
  validateTopK,
} from "../teacher_cache.ts";
import { readJsonFile, writeJsonLines, writeTextAtomic } from "../fs.ts";
import { overlaidHistogramSvg } from "../report.ts";
import { PAPER_PAIRS } from "../paper.ts";
import { pooledAlpha } from "../stats.ts";
import {
  type BudgetName,
  METHOD_NAMES,
  type PairName,
  PAIRS,
  type ProtocolName,
  PROTOCOLS,
  renderTable,
  type SeedResult,
  summariseCells,
  type Table1Row,
  tally,
} from "./table1_summary.ts";

export type { Table1Row } from "./table1_summary.ts";

/** Options of {@link runTable1}. */
export interface Table1Options {
  /** Profile name (`smoke` or `small`) or a profile object; `small` by default. */
  profile?: string | Profile;
  /**
   * Folder holding one subfolder per task (`gsm8k/train.jsonl`, …); else `ADASPEC_DATA_DIR`. A task
   * missing there comes from the cache, a download, or the synthetic stand-in, in that order.
   */
  dataDir?: string;
  /** Backend name; else `ADASPEC_BACKEND`, else `wasm`. */
  backend?: string;
  /** Folder for results; `results` by default. Files go to `<outDir>/<profile>/`. */
  outDir?: string;
  /** Folder for cached checkpoints and tokenizers; else `ADASPEC_CACHE_DIR`, else `.cache`. */
  cacheDir?: string;
  /** Tasks to run, from gsm8k, alpaca, mbpp, cnn_dailymail and xsum; `["gsm8k"]` by default. */
  tasks?: string[];
  /** Size gaps to run, from large-gap and small-gap; both by default. */
  pairs?: string[];
  /** Whether a task missing locally may be downloaded; true by default. */
  download?: boolean;
  /**
   * Whether distillation reads the target's log-probs and the reference's losses from a cache
   * computed once (true by default) or runs the frozen models at every step.
   */
  teacherCache?: boolean;
  /**
   * Keep only the K largest teacher log-probs per position (the rest of the mass spread evenly)
   * for distillation; the full distribution by default. The approximation error is measured,
   * logged and written to each task's `config.json`.
   */
  teacherTopK?: number;
  /** Receiver of progress lines; stderr by default. */
  log?: (line: string) => void;
}

/** Everything one task produced. */
export interface TaskRun {
  task: TaskName;
  /** Origin of the data; `synthetic` means generated stand-in text, not the real dataset. */
  source: DataSource;
  splitNote: string;
  /** Table 1 cells of this task: one per pair, budget and protocol. */
  rows: Table1Row[];
  /** Every draft of every seed: chosen epoch, validation α and per-prompt test counts. */
  seedResults: SeedResult[];
  /**
   * The timed evaluation (first seed, first pair, fixed budget): speed, lossless check and the
   * target's quality.
   */
  evaluation: EvaluationResult;
  /** Distinct-4-gram ratio of the test set's reference responses, beside the target's. */
  referenceDistinct4: number;
  /** Per-prompt α of each draft of the timed evaluation, for histograms. */
  promptAlphas: Record<string, number[]>;
  /** Target over draft parameters, per pair. */
  ratios: Partial<Record<PairName, number>>;
  /** Stages whose cached checkpoint was trained on another backend. */
  trainedElsewhere: string[];
  seconds: number;
}

/** Result of {@link runTable1}. */
export interface Table1Result {
  /** Every cell of every task. */
  rows: Table1Row[];
  runs: TaskRun[];
  /** The first task's timed evaluation. */
  evaluation: EvaluationResult;
  /** The first task's per-prompt α of each timed draft, for histograms. */
  promptAlphas: Record<string, number[]>;
  backend: BackendInfo;
  profile: Profile;
  outDir: string;
  seconds: number;
  /** Table 1 in Markdown. */
  markdown: string;
  /** Cells AdaSPEC won, lost and tied. */
  tally: { won: number; lost: number; tied: number };
}

function modelConfig(profile: Profile, shape: ModelShape, vocabSize: number, seed: number): ModelConfig {
  return { vocabSize, contextLength: profile.maxLength, ...shape, seed };
}

function trainConfig(budget: StageBudget, seed: number): TrainConfig {
  return { ...budget, seed, weightDecay: 0.1, maxGradNorm: 1.0, logEvery: 5 };
}

/** Rejects a profile whose epoch grid, seeds or validation prompts cannot run. */
export function validateProfile(profile: Profile): void {
  const grid = profile.epochGrid;
  if (grid.length === 0 || grid.some((e, i) => !Number.isInteger(e) || e < 1 || (i > 0 && e <= grid[i - 1]))) {
    throw new Error(`profile ${profile.name}: epochGrid ${JSON.stringify(grid)} must be increasing positive integers`);
  }
  if (!grid.includes(profile.distill.epochs)) {
    throw new Error(
      `profile ${profile.name}: epochGrid ${
        JSON.stringify(grid)
      } must contain distill.epochs = ${profile.distill.epochs}`,
    );
  }
  if (profile.seeds.length === 0 || new Set(profile.seeds).size !== profile.seeds.length) {
    throw new Error(`profile ${profile.name}: seeds ${JSON.stringify(profile.seeds)} must be distinct and not empty`);
  }
  if (!Number.isInteger(profile.validationPrompts) || profile.validationPrompts < 1) {
    throw new Error(
      `profile ${profile.name}: validationPrompts = ${profile.validationPrompts}; use a positive integer`,
    );
  }
}

/** Returns the epoch with the highest α, the earliest on ties. */
export function bestEpoch(epochs: number[], alphas: number[]): number {
  let best = 0;
  for (let i = 1; i < epochs.length; i++) {
    if (alphas[i] > alphas[best]) best = i;
  }
  return epochs[best];
}

/** Settings shared by every task of one {@link runTable1} call. */
interface RunContext {
  profile: Profile;
  pairs: PairName[];
  backend: BackendInfo;
  dataDir?: string;
  cacheDir: string;
  tableDir: string;
  useTeacherCache: boolean;
  teacherTopK?: number;
  download: boolean;
  log: (line: string) => void;
}

/** Runs the Table 1 pipeline on each task and writes its results; see the module doc for the stages. */
export async function runTable1(options: Table1Options = {}): Promise<Table1Result> {
  const log = options.log ?? ((line: string) => console.error(line));
  const profile = typeof options.profile === "object" ? options.profile : getProfile(options.profile ?? "small");
  validateProfile(profile);
  const tasks = options.tasks ?? ["gsm8k"];
  const unknown = tasks.filter((t) => !(TASK_NAMES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new Error(`unknown task ${unknown.join(", ")}: use one or more of ${TASK_NAMES.join(", ")}`);
  }
  if (tasks.length === 0) throw new Error(`no task given: use one or more of ${TASK_NAMES.join(", ")}`);
  const pairs = options.pairs ?? [...PAIRS];
  const badPairs = pairs.filter((p) => !(PAIRS as readonly string[]).includes(p));
  if (badPairs.length > 0 || pairs.length === 0) {
    throw new Error(`unknown pair ${badPairs.join(", ") || "(none given)"}: use one or more of ${PAIRS.join(", ")}`);
  }
  const topK = options.teacherTopK;
  if (topK !== undefined) validateTopK(topK, profile.vocabSize, "teacher top-K");
  if (topK !== undefined && options.teacherCache === false) {
    throw new Error("a teacher top-K needs the teacher cache: drop one of the two options");
  }
  const cacheDir = options.cacheDir ?? Deno.env.get("ADASPEC_CACHE_DIR") ?? ".cache";
  const outDir = `${options.outDir ?? "results"}/${profile.name}`;
  const dataDir = options.dataDir ?? Deno.env.get(DATA_DIR_ENV);
  const start = performance.now();
  const backend = await initBackend(options.backend);
  log(
    `table1: profile ${profile.name}, backend ${backend.name} ${backend.version} (${backend.detail}), tasks ${
      tasks.join(", ")
    }, pairs ${pairs.join(", ")}, seeds ${profile.seeds.join(", ")}, data ${dataDir ?? "not given"}`,
  );

  const context: RunContext = {
    profile,
    pairs: pairs as PairName[],
    backend,
    dataDir,
    cacheDir,
    tableDir: `${outDir}/table1`,
    useTeacherCache: options.teacherCache ?? true,
    teacherTopK: options.teacherTopK,
    download: options.download ?? true,
    log,
  };
  const runs: TaskRun[] = [];
  let markdown = "";
  for (const task of tasks as TaskName[]) {
    runs.push(await runTask(task, context));
    // The table is rewritten after each task, so a long run keeps every finished task.
    const rows = runs.flatMap((run) => run.rows);
    const table = renderTable(rows);
    markdown = table.markdown;
    await writeTextAtomic(`${context.tableDir}/table.md`, table.markdown);
    await writeTextAtomic(`${context.tableDir}/table.csv`, table.csv);
    await writeTextAtomic(`${context.tableDir}/table.tex`, table.latex);
    const seconds = (performance.now() - start) / 1000;
    await writeTextAtomic(`${outDir}/REPORT.md`, renderReport(profile, backend, runs, seconds));
  }
  const rows = runs.flatMap((run) => run.rows);
  const seconds = (performance.now() - start) / 1000;
  const counts = tally(rows);
  log(
    `table1: done in ${
      (seconds / 60).toFixed(1)
    } min; AdaSPEC won ${counts.won}, lost ${counts.lost}, tied ${counts.tied} of ${rows.length} cells; results in ${context.tableDir}, report ${outDir}/REPORT.md`,
  );
  const first = runs[0];
  return {
    rows,
    runs,
    evaluation: first.evaluation,
    promptAlphas: first.promptAlphas,
    backend,
    profile,
    outDir,
    seconds,
    markdown,
    tally: counts,
  };
}

/** Loads stored greedy continuations of the target, or decodes and stores them. */
async function storedContinuations(
  target: TransformerLM,
  targetKey: string,
  prompts: number[][],
  options: { maxNewTokens: number; eosId: number; cacheDir: string; label: string; log: (line: string) => void },
): Promise<number[][]> {
  const { maxNewTokens, eosId, cacheDir, label, log } = options;
  const key = hashText(stableStringify({ target: targetKey, prompts, maxNewTokens }));
  const path = `${cacheDir}/continuations-${key}.json`;
  try {
    const stored = await readJsonFile<{ key: string; continuations: number[][] }>(path, "continuation store");
    if (stored.key === key && stored.continuations.length === prompts.length) {
      log(`${label}: reusing stored target continuations ${path}`);
      return stored.continuations;
    }
  } catch (error) {
    if (!(error as Error).message.includes("not found")) {
      log(`${label}: continuation store ${path} is unusable (${(error as Error).message}); decoding again`);
    }
  }
  const start = performance.now();
  const continuations = greedyDecodeBatch(target, prompts, { maxNewTokens, eosId, batchSize: 8 });
  await writeTextAtomic(path, JSON.stringify({ key, continuations }) + "\n");
  log(
    `${label}: decoded ${prompts.length} target continuations in ${
      ((performance.now() - start) / 1000).toFixed(0)
    }s, saved ${path}`,
  );
  return continuations;
}

/** Runs every stage and the evaluation of one task and writes its files under `<table>/<task>/`. */
async function runTask(task: TaskName, context: RunContext): Promise<TaskRun> {
  const { profile, backend, cacheDir, log, useTeacherCache } = context;
  const spec = getTask(task);
  const taskStart = performance.now();
  const maxNewTokens = Math.min(profile.maxNewTokens, spec.maxNewTokens);
  const backendName = `${backend.name} ${backend.version}`;

  // Data: a seeded sample of the training split; the first validation and test prompts.
  const data = await resolveTaskData(task, { dataDir: context.dataDir, cacheDir, download: context.download, log });
  if (data.source === "synthetic") log(`${task}: WARNING no real data found; running on the synthetic stand-in`);
  const trainTexts: TextExample[] = new Rng(profile.seed).shuffle([...data.splits.train]).slice(
    0,
    profile.trainExamples,
  );
  const test = data.splits.test.slice(0, profile.testPrompts);
  const validation = data.splits.validation.slice(0, profile.validationPrompts);
  if (test.length === 0 || validation.length === 0) {
    throw new Error(`${task}: the data has ${test.length} test and ${validation.length} validation records; need both`);
  }
  const dataKey = hashText(task + JSON.stringify(trainTexts) + JSON.stringify(test));

  // One tokenizer for target, drafts and references, trained on the training text.
  const tokenizerPath = `${cacheDir}/tokenizer-${hashText(`${dataKey}:${profile.vocabSize}`)}.json`;
  let tokenizer: BpeTokenizer;
  try {
    tokenizer = await BpeTokenizer.load(tokenizerPath);
    log(`tokenizer: reusing ${tokenizerPath}`);
  } catch {
    tokenizer = BpeTokenizer.train(trainTexts.map((e) => e.prompt + e.response), { vocabSize: profile.vocabSize });
    await Deno.mkdir(cacheDir, { recursive: true });
    await tokenizer.save(tokenizerPath);
    log(`tokenizer: trained ${tokenizer.vocabSize} tokens, saved ${tokenizerPath}`);
  }
  const vocabSize = tokenizer.vocabSize;
  const { examples, truncated, documentsCut } = tokenizeTaskExamples(trainTexts, tokenizer, profile.maxLength);
  const meanLength = examples.reduce((a, e) => a + e.ids.length, 0) / examples.length;
  log(
    `${task} data (${data.source}): ${examples.length} training examples, mean ${meanLength.toFixed(1)} tokens, ${
      documentsCut > 0 ? `${documentsCut} documents shortened, ` : ""
    }${truncated} cut at the end to ${profile.maxLength} tokens`,
  );

  // A prompt leaves room for the new tokens: its document is shortened first, and a prompt still
  // too long keeps its last tokens, where the instruction is.
  const promptRoom = profile.maxLength - maxNewTokens;
  let promptsCut = 0;
  const encodePrompts = (records: typeof test) =>
    records.map((example) => {
      const ids = tokenizer.encode(fitPrompt(example, tokenizer, promptRoom).example.prompt);
      if (ids.length <= promptRoom) return ids;
      promptsCut++;
      return ids.slice(ids.length - promptRoom);
    });
  const testPrompts = encodePrompts(test);
  const validationPrompts = encodePrompts(validation);
  if (promptsCut > 0) log(`${task}: ${promptsCut} prompts kept their last ${promptRoom} tokens`);
  const eosId = tokenizer.eosId;
  const common = {
    task,
    dataKey,
    tokenizer: tokenizer.fingerprint(),
    maxLength: profile.maxLength,
    trainExamples: profile.trainExamples,
  };

  // Target and pretraining stages; each is cached under a hash of its inputs and its parents' keys.
  const stage = (
    name: string,
    shape: ModelShape,
    budget: StageBudget,
    kind: "lm" | "sft",
    init: StageResult | null,
    seed: number,
  ) => {
    const config = modelConfig(profile, shape, vocabSize, seed);
    const allTokens = kind === "lm";
    const inputs = { ...common, config, budget, allTokens, parents: [], init: init?.key ?? null, objective: kind };
    return runStage(cacheDir, name, inputs, async (dir) => {
      const model = init ? await cloneModel(init.model) : TransformerLM.create(config);
      const summary = await train(model, examples, { kind }, trainConfig(budget, seed), {
        label: name,
        allTokens,
        padId: eosId,
        log,
        onEpochEnd: (epoch) => saveEpochCheckpoint(dir, epoch, model),
      });
      return { model, summary };
    }, log);
  };

  const pretrainTarget = await stage(
    "pretrain-target",
    profile.target,
    profile.pretrainTarget,
    "lm",
    null,
    profile.seed,
  );
  const target = await stage("target-sft", profile.target, profile.targetSft, "sft", pretrainTarget, profile.seed);
  pretrainTarget.model.dispose();

  // The teacher cache is built only when a distillation stage has to train.
  const cacheOptions = { padId: eosId, microBatchSize: profile.distill.microBatchSize };
  let teacherCache: TeacherCache | null = null;
  const getTeacherCache = async (): Promise<TeacherCache> => {
    if (teacherCache) return teacherCache;
    const key = hashText(stableStringify({ target: target.key, ...common }));
    const path = `${cacheDir}/teacher-${key}.safetensors`;
    const values = await loadCachedArray(path, key, countLossPositions(examples) * vocabSize, log);
    if (values) {
      log(`teacher cache: reusing ${path}`);
      teacherCache = new TeacherCache(examples, vocabSize, values);
      return teacherCache;
    }
    const start = performance.now();
    teacherCache = buildTeacherCache(target.model, examples, { ...cacheOptions, log });
    await saveCachedArray(path, key, teacherCache.logProbs, [teacherCache.positions, vocabSize]);
    log(
      `teacher cache: ${teacherCache.positions} positions × ${vocabSize} log-probs (${
        (teacherCache.logProbs.byteLength / 2 ** 20).toFixed(0)
      } MiB) built in ${((performance.now() - start) / 1000).toFixed(0)}s, saved ${path}`,
    );
    return teacherCache;
  };
  // With a top-K setting, distillation reads the compressed cache; its error is measured once.
  let source: TeacherSource | null = null;
  let topKReport: TopKError | null = null;
  const getSource = async (): Promise<TeacherSource> => {
    if (source) return source;
    const full = await getTeacherCache();
    if (context.teacherTopK === undefined) return (source = full);
    const approx = TopKTeacherCache.fromFull(full, context.teacherTopK);
    topKReport = topKError(full, approx);
    log(
      `teacher cache: top-${approx.k} keeps ${(approx.byteLength / 2 ** 20).toFixed(0)} MiB of ${
        (full.logProbs.byteLength / 2 ** 20).toFixed(0)
      }; KL(full ‖ top-K) mean ${topKReport.meanKl.toExponential(3)} max ${
        topKReport.maxKl.toExponential(3)
      } nats, mass outside the K ${topKReport.meanOutsideMass.toFixed(4)}`,
    );
    return (source = approx);
  };
  // L_ref of one reference checkpoint, stored in the shared cache object (runs are sequential).
  const getReferenceCache = async (reference: TransformerLM, referenceKey: string): Promise<TeacherSource> => {
    const cache = await getSource();
    const key = hashText(
      stableStringify({ target: target.key, reference: referenceKey, teacherTopK: context.teacherTopK, ...common }),
    );
    const path = `${cacheDir}/reference-loss-${key}.safetensors`;
    const values = await loadCachedArray(path, key, cache.positions, log);
    if (values) {
      cache.referenceLoss = values;
      log(`reference loss cache: reusing ${path}`);
    } else {
      await saveCachedArray(path, key, buildReferenceLoss(cache, reference, "fkl", cacheOptions), [cache.positions]);
      log(`reference loss cache: ${cache.positions} values, saved ${path}`);
    }
    return cache;
  };

  const alphaOptions = { gamma: profile.gamma, maxNewTokens, eosId, targetContextLength: profile.maxLength };
  const continuationOptions = { maxNewTokens, eosId, cacheDir, log };
  const testContinuations = await storedContinuations(target.model, target.key, testPrompts, {
    ...continuationOptions,
    label: `${task} test`,
  });
  const validationContinuations = await storedContinuations(target.model, target.key, validationPrompts, {
    ...continuationOptions,
    label: `${task} validation`,
  });
  const validationAlpha = (model: TransformerLM) =>
    pooledAlpha(exactAcceptanceAll(model, validationPrompts, validationContinuations, alphaOptions));

  // Distillation stages keep a checkpoint at every reference epoch (a multiple of the reference's
  // steps per epoch), whatever their batch, so both protocols have the same checkpoints.
  const grid = profile.epochGrid;
  const fixedEpochs = profile.distill.epochs;
  const maxEpochs = grid[grid.length - 1];
  const referenceSteps = Math.ceil(examples.length / profile.distill.batchSize);
  const authorsBatch = Math.round(profile.distill.batchSize / profile.k);
  const distillStage = (
    name: string,
    kind: "kd" | "adaspec",
    shape: ModelShape,
    seed: number,
    protocol: ProtocolName,
    epochs: number,
    makeObjective: () => Promise<Objective>,
    parents: Record<string, unknown>,
    init: StageResult,
  ) => {
    const budget = protocol === "authors" ? { ...profile.distill, batchSize: authorsBatch } : profile.distill;
    const maxSteps = referenceSteps * epochs;
    const config = modelConfig(profile, shape, vocabSize, seed);
    const inputs = {
      ...common,
      config,
      budget,
      protocol,
      maxSteps,
      parents,
      init: init.key,
      objective: kind,
      k: profile.k,
      // Cached teacher outputs can differ from per-step ones in the last float bits.
      teacherCache: useTeacherCache ? true : undefined,
      teacherTopK: context.teacherTopK,
    };
    return runStage(cacheDir, name, inputs, async (dir) => {
      const model = await cloneModel(init.model);
      const passes = Math.ceil(maxSteps / Math.ceil(examples.length / budget.batchSize));
      const summary = await train(model, examples, await makeObjective(), {
        ...trainConfig(budget, seed),
        epochs: passes,
        maxSteps,
      }, {
        label: name,
        padId: eosId,
        log,
        onStep: (step) =>
          step % referenceSteps === 0 ? saveEpochCheckpoint(dir, step / referenceSteps, model) : undefined,
      });
      return { model, summary };
    }, log);
  };
  const loadEpoch = (stageResult: StageResult, epoch: number) => loadModel(`${stageResult.dir}/epoch-${epoch}`);
  // Validation α of every grid epoch of a stage, and the best epoch.
  const chooseEpoch = async (stageResult: StageResult, label: string) => {
    const alphas: number[] = [];
    for (const epoch of grid) {
      const model = await loadEpoch(stageResult, epoch);
      alphas.push(validationAlpha(model));
      model.dispose();
    }
    const best = bestEpoch(grid, alphas);
    log(
      `${label}: validation α by epoch ${
        grid.map((e, i) => `${e}: ${alphas[i].toFixed(4)}`).join(", ")
      }; best epoch ${best}`,
    );
    return { best, alphas: Object.fromEntries(grid.map((e, i) => [e, alphas[i]])) as Record<number, number> };
  };

  const seedResults: SeedResult[] = [];
  const ratios: Partial<Record<PairName, number>> = {};
  const rows: Table1Row[] = [];
  const stageRecords: Record<string, unknown> = {};
  const trainedElsewhere = new Set<string>();
  let evaluation: EvaluationResult | null = null;
  const headline: Record<string, string> = { target: target.dir };
  const note = (s: StageResult) => {
    stageRecords[`${s.name} (${s.key})`] = { key: s.key, cached: s.cached, trainedOn: s.trainedOn, summary: s.summary };
    if (s.trainedOn !== backendName) trainedElsewhere.add(`${s.name} (${s.trainedOn})`);
  };
  note(pretrainTarget);
  note(target);

  for (const pair of context.pairs) {
    const shape = pair === "large-gap" ? profile.draft : profile.smallGapDraft;
    let draftParameters = 0;
    for (const [seedIndex, seed] of profile.seeds.entries()) {
      const tag = `${task} ${pair} seed ${seed}`;
      log(`${tag}: start (${seedIndex + 1}/${profile.seeds.length})`);
      const pretrainDraft = await stage(`pretrain-draft-${pair}`, shape, profile.pretrainDraft, "lm", null, seed + 1);
      note(pretrainDraft);
      draftParameters = pretrainDraft.model.parameterCount;
      const results: SeedResult[] = [];
      // Test counts per checkpoint folder: both budgets often select the same checkpoint.
      const countsByCheckpoint = new Map<string, AcceptanceCounts[]>();
      const record = (
        budget: BudgetName,
        method: SeedResult["method"],
        epoch: number,
        validation: number | null,
        model: TransformerLM,
        checkpoint: string,
      ) => {
        let counts = countsByCheckpoint.get(checkpoint);
        if (!counts) {
          counts = exactAcceptanceAll(model, testPrompts, testContinuations, alphaOptions);
          countsByCheckpoint.set(checkpoint, counts);
        }
        const result: SeedResult = {
          task,
          pair,
          seed,
          budget,
          method,
          epoch,
          validationAlpha: validation,
          alpha: pooledAlpha(counts),
          counts,
        };
        results.push(result);
        log(
          `${tag}: ${budget} ${METHOD_NAMES[method]} epoch ${epoch} test α ${result.alpha.toFixed(4)}${
            validation === null ? "" : ` (validation ${validation.toFixed(4)})`
          }`,
        );
      };
      for (const budget of ["fixed", "optimal-epoch"] as const) {
        record(budget, "pretrained", 0, null, pretrainDraft.model, pretrainDraft.dir);
      }

      // The reference: DistillSpec, trained once to the largest epoch of the grid.
      const reference = await distillStage(
        `reference-distillspec-${pair}`,
        "kd",
        shape,
        seed,
        "equal-data",
        maxEpochs,
        async () => ({
          kind: "kd",
          teacher: target.model,
          divergence: "fkl",
          cache: useTeacherCache ? await getSource() : undefined,
        }),
        { target: target.key },
        pretrainDraft,
      );
      note(reference);
      reference.model.dispose();
      const referenceChoice = await chooseEpoch(reference, `${tag} DistillSpec`);
      const referenceEpochs: Record<BudgetName, number> = { fixed: fixedEpochs, "optimal-epoch": referenceChoice.best };
      const referenceModels = new Map<number, TransformerLM>();
      for (const epoch of new Set(Object.values(referenceEpochs))) {
        referenceModels.set(epoch, await loadEpoch(reference, epoch));
      }
      for (const budget of ["fixed", "optimal-epoch"] as const) {
        const epoch = referenceEpochs[budget];
        const model = referenceModels.get(epoch)!;
        record(budget, "distillspec", epoch, referenceChoice.alphas[epoch], model, `${reference.dir}/epoch-${epoch}`);
      }

      // AdaSPEC against each selected reference checkpoint, under both protocols. The fixed budget
      // needs its own run only when the optimal reference is another checkpoint.
      const timedDrafts: { name: string; model: TransformerLM }[] = [];
      const sameReference = referenceEpochs.fixed === referenceEpochs["optimal-epoch"];
      const headlineSeed = seedIndex === 0 && pair === context.pairs[0];
      const keepFixed = async (draft: StageResult, protocol: ProtocolName, validation: number | null) => {
        const fixed = await loadEpoch(draft, fixedEpochs);
        record("fixed", protocol, fixedEpochs, validation, fixed, `${draft.dir}/epoch-${fixedEpochs}`);
        if (!headlineSeed) return fixed.dispose();
        timedDrafts.push({ name: METHOD_NAMES[protocol], model: fixed });
        headline[METHOD_NAMES[protocol]] = `${draft.dir}/epoch-${fixedEpochs}`;
      };
      for (const protocol of PROTOCOLS) {
        for (const budget of ["optimal-epoch", "fixed"] as const) {
          // One run serves both budgets when they select the same reference checkpoint.
          if (budget === "fixed" && sameReference) break;
          const refEpoch = referenceEpochs[budget];
          const referenceModel = referenceModels.get(refEpoch)!;
          const draft = await distillStage(
            `draft-adaspec-${protocol}-${pair}`,
            "adaspec",
            shape,
            seed,
            protocol,
            budget === "fixed" ? fixedEpochs : maxEpochs,
            async () => ({
              kind: "adaspec",
              teacher: target.model,
              reference: referenceModel,
              divergence: "fkl",
              k: profile.k,
              normalisation: "valid",
              mode: "top",
              cache: useTeacherCache
                ? await getReferenceCache(referenceModel, `${reference.key}@${refEpoch}`)
                : undefined,
            }),
            { target: target.key, reference: reference.key, referenceEpoch: refEpoch },
            pretrainDraft,
          );
          note(draft);
          draft.model.dispose();
          if (budget === "fixed") {
            await keepFixed(draft, protocol, null);
            continue;
          }
          const choice = await chooseEpoch(draft, `${tag} ${METHOD_NAMES[protocol]}`);
          const model = await loadEpoch(draft, choice.best);
          record(budget, protocol, choice.best, choice.alphas[choice.best], model, `${draft.dir}/epoch-${choice.best}`);
          model.dispose();
          if (sameReference) await keepFixed(draft, protocol, choice.alphas[fixedEpochs]);
        }
      }

      // The first seed of the first pair also runs the real decoding loops.
      if (headlineSeed) {
        const fixedReference = referenceModels.get(fixedEpochs)!;
        headline[METHOD_NAMES.distillspec] = `${reference.dir}/epoch-${fixedEpochs}`;
        headline[METHOD_NAMES.pretrained] = pretrainDraft.dir;
        evaluation = evaluateDrafts(
          target.model,
          [
            { name: METHOD_NAMES.pretrained, model: pretrainDraft.model },
            { name: METHOD_NAMES.distillspec, model: fixedReference },
            ...timedDrafts,
          ],
          testPrompts,
          {
            gamma: profile.gamma,
            maxNewTokens,
            eosId,
            timingPrompts: profile.timingPrompts,
            continuations: testContinuations,
            log,
          },
        );
      }
      for (const { model } of timedDrafts) model.dispose();
      for (const model of referenceModels.values()) model.dispose();
      pretrainDraft.model.dispose();
      seedResults.push(...results);
    }
    ratios[pair] = target.model.parameterCount / draftParameters;
    log(
      `${task} ${pair}: target ${target.model.parameterCount} parameters, draft ${draftParameters} parameters, ratio ${
        ratios[pair]!.toFixed(1)
      }×`,
    );
    rows.push(...summariseCells(seedResults, {
      backend: backendName,
      task,
      data: data.source,
      pair,
      budgetLabel: `${fixedEpochs}-epoch`,
      targetParameters: target.model.parameterCount,
      draftParameters,
      seed: profile.seed,
    }));
  }
  if (trainedElsewhere.size > 0) {
    log(`${task}: cached stages trained on another backend: ${[...trainedElsewhere].join(", ")}`);
  }
  const timed = evaluation!;
  const promptAlphas: Record<string, number[]> = {};
  for (const r of timed.records) if (r.alpha !== null) (promptAlphas[r.draft] ??= []).push(r.alpha);
  const referenceIds = test.map((e) => tokenizer.encode(e.response));
  const referenceDistinct4 = distinctNgramRatio(referenceIds);
  target.model.dispose();

  // Files of this task: config, per-seed results, per-prompt records, target quality and a histogram.
  const taskDir = `${context.tableDir}/${task}`;
  const seconds = (performance.now() - taskStart) / 1000;
  const config = {
    task,
    profile,
    backend,
    data: { source: data.source, dir: data.dir ? resolve(data.dir) : null, splitNote: data.splitNote },
    tokenizer: { vocabSize, fingerprint: tokenizer.fingerprint() },
    protocols: {
      authors:
        `batch ${authorsBatch} (= ${profile.distill.batchSize} / k), ${referenceSteps} steps per reference epoch`,
      "equal-data": `batch ${profile.distill.batchSize}, ${referenceSteps} steps per epoch`,
    },
    teacherTopK: topKReport,
    // Checkpoint folders of the timed drafts, which the benchmark decodes.
    headline,
    stages: stageRecords,
    truncatedExamples: truncated,
    documentsCut,
    promptsCut,
    maxNewTokens,
    seconds,
    date: new Date().toISOString(),
  };
  await writeTextAtomic(`${taskDir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  await writeJsonLines(
    `${taskDir}/seeds.jsonl`,
    seedResults.map(({ counts: _counts, ...rest }) => ({
      backend: backendName,
      ...rest,
      method: METHOD_NAMES[rest.method],
    })),
  );
  await writeJsonLines(
    `${taskDir}/records.jsonl`,
    seedResults.flatMap((r) =>
      r.counts.map((c, prompt) => ({
        backend: backendName,
        task,
        pair: r.pair,
        seed: r.seed,
        budget: r.budget,
        draft: METHOD_NAMES[r.method],
        epoch: r.epoch,
        prompt,
        accepted: c.accepted,
        rejected: c.rejected,
      }))
    ),
  );
  await writeJsonLines(`${taskDir}/timed.jsonl`, timed.records.map((r) => ({ backend: backendName, task, ...r })));
  await writeTextAtomic(
    `${taskDir}/target.json`,
    JSON.stringify({ backend: backendName, task, ...timed.target, referenceDistinct4 }, null, 2) + "\n",
  );
  const series = Object.entries(promptAlphas).filter(([name]) => name !== METHOD_NAMES.pretrained);
  if (series.length > 0) {
    await writeTextAtomic(
      `${taskDir}/alpha-histogram.svg`,
      overlaidHistogramSvg(series.map(([name, values]) => ({ name, values })), {
        x: `per-prompt acceptance rate α (${spec.title}, ${context.pairs[0]}, seed ${profile.seeds[0]})`,
        domain: [0, 1],
        bins: 20,
      }),
    );
  }
  log(`${task}: done in ${(seconds / 60).toFixed(1)} min`);
  return {
    task,
    source: data.source,
    splitNote: data.splitNote,
    rows,
    seedResults,
    evaluation: timed,
    referenceDistinct4,
    promptAlphas,
    ratios,
    trainedElsewhere: [...trainedElsewhere],
    seconds,
  };
}

async function cloneModel(model: TransformerLM): Promise<TransformerLM> {
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, variable] of model.params) {
    weights.set(name, { shape: variable.shape, data: (await variable.data()) as Float32Array });
  }
  return TransformerLM.fromWeights(model.config, weights);
}

function renderReport(profile: Profile, backend: BackendInfo, runs: TaskRun[], seconds: number): string {
  const rows = runs.flatMap((r) => r.rows);
  const counts = tally(rows);
  const authorsBatch = Math.round(profile.distill.batchSize / profile.k);
  const lines = [
    `# Reproduction report (profile ${profile.name})`,
    "",
    `Backend ${backend.name} ${backend.version} (${backend.detail}), TensorFlow.js ${backend.tfjsVersion}. Run time ${
      (seconds / 60).toFixed(1)
    } min. Generated ${new Date().toISOString()}.`,
    "",
    `## Table 1: acceptance rate α (%), greedy speculative decoding, γ = ${profile.gamma}`,
    "",
    `AdaSPEC won ${counts.won}, lost ${counts.lost} and tied ${counts.tied} of ${rows.length} cells. Each cell has two 95 % intervals for the difference: a t-interval over the per-seed differences (${profile.seeds.length} seeds) and a paired bootstrap over test prompts (counts pooled over seeds). A cell is won or lost only when both exclude zero on the same side, and tied otherwise.`,
    "",
    renderTable(rows).markdown,
    `Pairs: both gaps distil from the same target per task; the paper's large gap is ${
      PAPER_PAIRS["large-gap"]
    } (45×) and its small gap ${
      PAPER_PAIRS["small-gap"]
    }. Budgets: ${profile.distill.epochs}-epoch trains reference and AdaSPEC for ${profile.distill.epochs} epochs; optimal-epoch picks each one's epoch from {${
      profile.epochGrid.join(", ")
    }} by validation α on ${profile.validationPrompts} validation prompts, and AdaSPEC then trains against the best reference checkpoint. Protocols: "authors" trains AdaSPEC with batch ${authorsBatch} (= ${profile.distill.batchSize} / k) for the reference's number of optimiser steps, so it reads ${
      (authorsBatch / profile.distill.batchSize).toFixed(1)
    }× as many sequences; "equal-data" uses the reference's batch ${profile.distill.batchSize} and steps. DistillSpec is the same model under both protocols. The paper reports one run per cell with no error bars; its target is trained for the same budget as its drafts, while here one target serves both budgets.`,
    "",
  ];
  for (const run of runs) lines.push(...renderTaskSection(profile, run));
  return lines.join("\n");
}

function renderTaskSection(profile: Profile, run: TaskRun): string[] {
  const { evaluation, trainedElsewhere } = run;
  const pct = (x: number | null) => (x === null ? "—" : (100 * x).toFixed(2));
  const lines = [`## ${getTask(run.task).title}`, ""];
  if (run.source === "synthetic") {
    lines.push(
      "**This task ran on the built-in synthetic stand-in, not on the real dataset: its numbers say nothing about the paper's.**",
      "",
    );
  }
  if (trainedElsewhere.length > 0) {
    lines.push(
      `Cached checkpoints trained on another backend, or one not recorded: ${trainedElsewhere.join(", ")}.`,
      "",
    );
  }
  lines.push(
    `Data source: ${run.source}. Splits: ${run.splitNote}. Run time ${(run.seconds / 60).toFixed(1)} min.`,
    "",
    `Pairs: ${
      Object.entries(run.ratios).map(([pair, ratio]) => {
        const row = run.rows.find((r) => r.pair === pair)!;
        return `${pair}: target ${row.target_parameters} parameters, draft ${row.draft_parameters} (${
          ratio!.toFixed(1)
        }×)`;
      }).join("; ")
    }.`,
    "",
    `Target quality: greedy continuations of the ${evaluation.prompts} test prompts (max ${evaluation.maxNewTokens} new tokens) have mean length ${
      evaluation.target.meanLength.toFixed(1)
    } tokens, ${pct(evaluation.target.eosShare)} % end in EOS, distinct-4-gram ratio ${
      evaluation.target.distinct4.toFixed(3)
    } (the reference responses: ${run.referenceDistinct4.toFixed(3)}). A target that loops makes α easy to inflate.`,
    "",
    `Timed drafts (${run.rows[0]?.pair ?? ""}, seed ${
      profile.seeds[0]
    }, ${profile.distill.epochs}-epoch): the first ${evaluation.timedPrompts} test prompts also ran the real decoding loops.`,
    "",
    "| draft | α (%) | τ | c | predicted speed-up | measured speed-up | lossless | counts equal the loop's |",
    "|---|---:|---:|---:|---:|---:|---|---|",
    ...evaluation.drafts.map((d) =>
      `| ${d.draft} | ${pct(d.alpha)} | ${d.tau.toFixed(3)} | ${d.costRatio.toFixed(3)} | ${
        d.predictedSpeedup.toFixed(2)
      }× | ${d.measuredSpeedup.toFixed(2)}× | ${d.mismatches === 0 ? "yes" : "NO"} | ${
        d.exactCountMismatches === 0 ? "yes" : "NO"
      } |`
    ),
    "",
  );
  return lines;
}
