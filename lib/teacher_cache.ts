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

/** Cached frozen-model outputs for a fixed list of training examples. */
export class TeacherCache {
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
    this.offsets = new Int32Array(examples.length + 1);
    examples.forEach((example, i) => {
      const { start, end } = lossPositions(example);
      this.offsets[i + 1] = this.offsets[i] + (end - start);
    });
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
    if (!this.referenceLoss) throw new Error("the teacher cache has no reference losses; build them first");
    const out = new Float32Array(indices.length * length);
    indices.forEach((index, row) => {
      const { start, end } = lossPositions(this.examples[index]);
      const source = this.offsets[index];
      out.set(this.referenceLoss!.subarray(source, source + end - start), row * length + start);
    });
    return out;
  }
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
  cache: TeacherCache,
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
