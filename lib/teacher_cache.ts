/**
 * Teacher cache: the frozen target's log-probs at every loss position of a training set, and the
 * frozen reference's per-token loss L_ref, computed once and stored on disk. A distillation step
 * then needs only the draft's forward and backward pass plus a read of the cache.
 *
 * @module
 */
import { tf } from "./tf.ts";
import { makeBatch, type TokenExample } from "./data.ts";
import type { TransformerLM } from "./model.ts";
import { type Divergence, divergence, logProbs } from "./divergence.ts";
import { decodeSafetensors, encodeSafetensors } from "./checkpoint.ts";
import { writeBytesAtomic } from "./fs.ts";
import { readValues } from "./ops.ts";

/** Returns the input positions t whose label (token t + 1) is a loss position, as `makeBatch` marks them. */
export function lossPositions(example: TokenExample): { start: number; end: number } {
  const end = example.ids.length - 1;
  return { start: Math.min(Math.max(example.promptLength - 1, 0), end), end };
}

/**
 * The cached inputs of a distillation step: the teacher's log-probs and, for AdaSPEC, L_ref, for
 * a padded batch of the training examples.
 */
export interface TeacherSource {
  readonly examples: TokenExample[];
  readonly vocabSize: number;
  /** Loss positions over all examples. */
  readonly positions: number;
  /** Start of each example's positions, with the total at the end. */
  readonly offsets: Int32Array;
  referenceLoss: Float32Array | null;
  /** Returns the teacher log-probs for the examples `indices` padded to `length`, as [rows · length × vocabSize]. */
  teacherBatch(indices: number[], length: number): Float32Array;
  /** Returns L_ref for a padded batch as [rows · length], zero where there is no loss. */
  referenceBatch(indices: number[], length: number): Float32Array;
}

function lossOffsets(examples: TokenExample[]): Int32Array {
  const offsets = new Int32Array(examples.length + 1);
  examples.forEach((example, i) => {
    const { start, end } = lossPositions(example);
    offsets[i + 1] = offsets[i] + (end - start);
  });
  return offsets;
}

function referenceRows(source: TeacherSource, indices: number[], length: number): Float32Array {
  const losses = source.referenceLoss;
  if (!losses) throw new Error("the teacher cache has no reference losses; build them first");
  const out = new Float32Array(indices.length * length);
  indices.forEach((index, row) => {
    const { start, end } = lossPositions(source.examples[index]);
    const from = source.offsets[index];
    out.set(losses.subarray(from, from + end - start), row * length + start);
  });
  return out;
}

/** Cached frozen-model outputs for a fixed list of training examples: the full distribution. */
export class TeacherCache implements TeacherSource {
  readonly offsets: Int32Array;
  readonly positions: number;

  /**
   * Wraps cached arrays: `logProbs` [positions × vocabSize] in example order and, optionally,
   * `referenceLoss` [positions].
   */
  constructor(
    readonly examples: TokenExample[],
    readonly vocabSize: number,
    readonly logProbs: Float32Array,
    public referenceLoss: Float32Array | null = null,
  ) {
    this.offsets = lossOffsets(examples);
    this.positions = this.offsets[examples.length];
    if (logProbs.length !== this.positions * vocabSize) {
      throw new Error(
        `teacher cache has ${logProbs.length} values but ${this.positions} positions × ${vocabSize} are needed; rebuild it`,
      );
    }
    if (referenceLoss && referenceLoss.length !== this.positions) {
      throw new Error(
        `reference cache has ${referenceLoss.length} values but ${this.positions} are needed; rebuild it`,
      );
    }
  }

  /**
   * Returns the teacher log-probs for a padded batch of the examples `indices` with `length`
   * positions per row, as [rows · length × vocabSize]. Positions without a loss get a uniform
   * distribution, which the loss mask removes.
   */
  teacherBatch(indices: number[], length: number): Float32Array {
    const v = this.vocabSize;
    const out = new Float32Array(indices.length * length * v).fill(-Math.log(v));
    indices.forEach((index, row) => {
      const { start, end } = lossPositions(this.examples[index]);
      const source = this.offsets[index] * v;
      out.set(this.logProbs.subarray(source, source + (end - start) * v), (row * length + start) * v);
    });
    return out;
  }

  /** Returns L_ref for a padded batch as [rows · length], zero where there is no loss. */
  referenceBatch(indices: number[], length: number): Float32Array {
    return referenceRows(this, indices, length);
  }
}

/** Rejects a top-K that is not an integer from 1 to `vocabSize`; `name` labels the value in the message. */
export function validateTopK(k: number, vocabSize: number, name = "top-K"): void {
  if (!Number.isInteger(k) || k < 1 || k > vocabSize) {
    throw new Error(`invalid ${name} ${k}: use an integer from 1 to the vocabulary size ${vocabSize}`);
  }
}

/**
 * A teacher cache that keeps, per position, the K largest log-probs with their token ids, and
 * spreads the remaining probability mass evenly over the other V − K tokens. It needs
 * K · 8 + 4 bytes per position instead of V · 4, for vocabularies too large to store in full.
 */
export class TopKTeacherCache implements TeacherSource {
  readonly offsets: Int32Array;
  readonly positions: number;

  /**
   * `ids` and `values` are [positions × k] (token ids and their log-probs, largest first);
   * `rest` is [positions]: the log-prob each token outside the K gets.
   */
  constructor(
    readonly examples: TokenExample[],
    readonly vocabSize: number,
    readonly k: number,
    readonly ids: Int32Array,
    readonly values: Float32Array,
    readonly rest: Float32Array,
    public referenceLoss: Float32Array | null = null,
  ) {
    validateTopK(k, vocabSize);
    this.offsets = lossOffsets(examples);
    this.positions = this.offsets[examples.length];
    if (ids.length !== this.positions * k || values.length !== ids.length || rest.length !== this.positions) {
      throw new Error(`top-${k} teacher cache arrays do not match ${this.positions} positions; rebuild it`);
    }
  }

  /**
   * Keeps the K largest log-probs of every position of a full cache. The remaining mass
   * 1 − Σ top-K p is shared evenly by the other tokens (a floor of 1e-30 keeps its log finite).
   */
  static fromFull(cache: TeacherCache, k: number): TopKTeacherCache {
    const v = cache.vocabSize;
    validateTopK(k, v);
    const n = cache.positions;
    const ids = new Int32Array(n * k);
    const values = new Float32Array(n * k);
    const rest = new Float32Array(n);
    const chunk = 4096;
    for (let first = 0; first < n; first += chunk) {
      const rows = Math.min(chunk, n - first);
      const block = cache.logProbs.subarray(first * v, (first + rows) * v);
      const input = tf.tensor2d(block, [rows, v]);
      const top = tf.topk(input, k, true);
      ids.set(top.indices.dataSync() as Int32Array, first * k);
      values.set(top.values.dataSync() as Float32Array, first * k);
      tf.dispose([input, top.values, top.indices]);
    }
    for (let p = 0; p < n; p++) {
      let keptMass = 0;
      for (let j = 0; j < k; j++) keptMass += Math.exp(values[p * k + j]);
      rest[p] = k === v ? -Infinity : Math.log(Math.max(1 - keptMass, 1e-30) / (v - k));
    }
    return new TopKTeacherCache(cache.examples, v, k, ids, values, rest, cache.referenceLoss);
  }

  /** Bytes of the stored arrays (ids, log-probs and the rest term). */
  get byteLength(): number {
    return this.ids.byteLength + this.values.byteLength + this.rest.byteLength;
  }

  /** Returns the approximate teacher log-probs for a padded batch, as {@link TeacherCache.teacherBatch} does. */
  teacherBatch(indices: number[], length: number): Float32Array {
    const v = this.vocabSize, k = this.k;
    const out = new Float32Array(indices.length * length * v).fill(-Math.log(v));
    indices.forEach((index, row) => {
      const { start, end } = lossPositions(this.examples[index]);
      for (let t = start; t < end; t++) {
        const p = this.offsets[index] + t - start;
        const base = (row * length + t) * v;
        out.fill(this.rest[p], base, base + v);
        for (let j = 0; j < k; j++) out[base + this.ids[p * k + j]] = this.values[p * k + j];
      }
    });
    return out;
  }

  /** Returns L_ref for a padded batch as [rows · length], zero where there is no loss. */
  referenceBatch(indices: number[], length: number): Float32Array {
    return referenceRows(this, indices, length);
  }
}

/** How far a top-K cache is from the full one: KL(p ‖ p̂) per position and the mass outside the K. */
export interface TopKError {
  k: number;
  /** Mean and largest KL(p ‖ p̂) over positions, in nats. */
  meanKl: number;
  maxKl: number;
  /** Mean probability mass outside the K kept tokens. */
  meanOutsideMass: number;
}

/** Measures the approximation error of `approx` against the full cache it came from. */
export function topKError(full: TeacherCache, approx: TopKTeacherCache): TopKError {
  const v = full.vocabSize, k = approx.k;
  const inTopK = new Uint8Array(v);
  let sumKl = 0, maxKl = 0, sumOutside = 0;
  for (let p = 0; p < full.positions; p++) {
    inTopK.fill(0);
    for (let j = 0; j < k; j++) inTopK[approx.ids[p * k + j]] = 1;
    let kl = 0, outside = 0;
    for (let i = 0; i < v; i++) {
      if (inTopK[i]) continue;
      const logP = full.logProbs[p * v + i];
      const prob = Math.exp(logP);
      outside += prob;
      if (prob > 0) kl += prob * (logP - approx.rest[p]);
    }
    sumKl += kl;
    sumOutside += outside;
    if (kl > maxKl) maxKl = kl;
  }
  const n = Math.max(full.positions, 1);
  return { k, meanKl: sumKl / n, maxKl, meanOutsideMass: sumOutside / n };
}

function copyLossRows(
  cache: Float32Array,
  values: Float32Array,
  width: number,
  examples: TokenExample[],
  indices: number[],
  length: number,
  offsets: Int32Array,
): void {
  indices.forEach((index, row) => {
    const { start, end } = lossPositions(examples[index]);
    const from = (row * length + start) * width;
    cache.set(values.subarray(from, from + (end - start) * width), offsets[index] * width);
  });
}

/** Returns the number of loss positions over all examples. */
export function countLossPositions(examples: TokenExample[]): number {
  return examples.reduce((sum, example) => {
    const { start, end } = lossPositions(example);
    return sum + end - start;
  }, 0);
}

function* microBatches(count: number, size: number): Generator<number[]> {
  for (let i = 0; i < count; i += size) {
    yield Array.from({ length: Math.min(size, count - i) }, (_, j) => i + j);
  }
}

/**
 * Runs `target` over every example once (in micro-batches) and returns the cache of its
 * log-probs at the loss positions.
 */
export function buildTeacherCache(
  target: TransformerLM,
  examples: TokenExample[],
  options: { padId: number; microBatchSize: number; log?: (line: string) => void },
): TeacherCache {
  const v = target.config.vocabSize;
  const values = new Float32Array(countLossPositions(examples) * v);
  const cache = new TeacherCache(examples, v, values);
  const start = performance.now();
  let done = 0;
  for (const indices of microBatches(examples.length, options.microBatchSize)) {
    const batch = makeBatch(indices.map((i) => examples[i]), options.padId);
    const rows = readValues(() => {
      const ids = tf.tensor2d(batch.inputs, [batch.size, batch.length], "int32");
      const keyMask = tf.tensor2d(batch.keyMask, [batch.size, batch.length]);
      return logProbs(target.forward(ids, keyMask));
    });
    copyLossRows(values, rows, v, examples, indices, batch.length, cache.offsets);
    done += indices.length;
    if (options.log && (done === examples.length || done % (options.microBatchSize * 20) === 0)) {
      options.log(
        `teacher cache: ${done}/${examples.length} examples, ${((performance.now() - start) / 1000).toFixed(0)}s`,
      );
    }
  }
  return cache;
}

/**
 * Fills `cache.referenceLoss` with L_ref(t) = divergence(p_t ‖ r_t) of the frozen `reference`
 * against the cached teacher log-probs.
 */
export function buildReferenceLoss(
  cache: TeacherSource,
  reference: TransformerLM,
  kind: Divergence,
  options: { padId: number; microBatchSize: number },
): Float32Array {
  const losses = new Float32Array(cache.positions);
  for (const indices of microBatches(cache.examples.length, options.microBatchSize)) {
    const batch = makeBatch(indices.map((i) => cache.examples[i]), options.padId);
    const rows = readValues(() => {
      const ids = tf.tensor2d(batch.inputs, [batch.size, batch.length], "int32");
      const keyMask = tf.tensor2d(batch.keyMask, [batch.size, batch.length]);
      const teacher = tf.tensor2d(cache.teacherBatch(indices, batch.length), [
        batch.size * batch.length,
        cache.vocabSize,
      ]);
      return divergence(kind, teacher, logProbs(reference.forward(ids, keyMask)));
    });
    copyLossRows(losses, rows, 1, cache.examples, indices, batch.length, cache.offsets);
  }
  cache.referenceLoss = losses;
  return losses;
}

/** Returns a 32-bit checksum of the float bits, to detect damaged cache files. */
export function checksumFloats(values: Float32Array): number {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let a = 1, b = 0;
  for (let i = 0; i < words.length; i++) {
    a = (a + (words[i] & 0xffff) + (words[i] >>> 16)) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Writes one cached array (teacher log-probs or reference losses) atomically, with its key and checksum. */
export async function saveCachedArray(path: string, key: string, values: Float32Array, shape: number[]): Promise<void> {
  const tensors = new Map([["values", { shape, data: values }]]);
  await writeBytesAtomic(path, encodeSafetensors(tensors, { key, checksum: String(checksumFloats(values)) }));
}

/**
 * Reads an array written by {@link saveCachedArray}. Returns null when the file is missing, was
 * written for another key, or is damaged (wrong size or checksum), so the caller rebuilds it.
 */
export async function loadCachedArray(
  path: string,
  key: string,
  expectedLength: number,
  log: (line: string) => void,
): Promise<Float32Array | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const metadata = header.__metadata__ ?? {};
    if (metadata.key !== key) {
      log(`cache ${path} was built for another configuration; rebuilding it`);
      return null;
    }
    const values = decodeSafetensors(bytes, path).get("values");
    if (!values || values.data.length !== expectedLength) {
      log(`cache ${path} has ${values?.data.length} values, expected ${expectedLength}; rebuilding it`);
      return null;
    }
    if (String(checksumFloats(values.data)) !== metadata.checksum) {
      log(`cache ${path} failed its checksum; rebuilding it`);
      return null;
    }
    return values.data;
  } catch (error) {
    log(`cache ${path} is damaged (${(error as Error).message}); rebuilding it`);
    return null;
  }
}
