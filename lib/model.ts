/**
 * Decoder-only transformer language model (pre-LayerNorm, learned positions, GELU MLP, output
 * head tied to the token embedding) with batched training forward and KV-cache decoding.
 *
 * @module
 */
import { tf } from "./tf.ts";
import { Rng } from "./rng.ts";
import { batchedMatMul, dense, gelu, layerNorm } from "./ops.ts";

/** Shape and seed of a transformer. */
export interface ModelConfig {
  /** Number of token ids (must equal the tokenizer's vocabulary size). */
  vocabSize: number;
  /** Maximum sequence length (learned positions). */
  contextLength: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Model width d (residual stream size); a multiple of `heads`. */
  width: number;
  /** Number of attention heads. */
  heads: number;
  /** Hidden width of the MLP, conventionally 4 × width. */
  mlpWidth: number;
  /** Seed of the initialisation. */
  seed: number;
}

/** Rejects a config whose fields are not positive integers or whose width is not divisible by heads. */
export function validateModelConfig(config: ModelConfig): ModelConfig {
  for (const key of ["vocabSize", "contextLength", "layers", "width", "heads", "mlpWidth"] as const) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`invalid model config: ${key} = ${value}; use a positive integer`);
    }
  }
  if (!Number.isInteger(config.seed)) {
    throw new Error(`invalid model config: seed = ${config.seed}; use an integer`);
  }
  if (config.width % config.heads !== 0) {
    throw new Error(
      `invalid model config: width ${config.width} is not divisible by heads ${config.heads}; pick heads that divide width`,
    );
  }
  return config;
}

/** Returns the parameter names and shapes of a model, in initialisation order. */
export function parameterShapes(config: ModelConfig): [string, number[]][] {
  const { vocabSize: v, contextLength: n, width: d, mlpWidth: m } = config;
  const shapes: [string, number[]][] = [["wte", [v, d]], ["wpe", [n, d]]];
  for (let l = 0; l < config.layers; l++) {
    shapes.push(
      [`h${l}.ln1.g`, [d]],
      [`h${l}.ln1.b`, [d]],
      [`h${l}.attn.w`, [d, 3 * d]],
      [`h${l}.attn.b`, [3 * d]],
      [`h${l}.proj.w`, [d, d]],
      [`h${l}.proj.b`, [d]],
      [`h${l}.ln2.g`, [d]],
      [`h${l}.ln2.b`, [d]],
      [`h${l}.fc.w`, [d, m]],
      [`h${l}.fc.b`, [m]],
      [`h${l}.out.w`, [m, d]],
      [`h${l}.out.b`, [d]],
    );
  }
  shapes.push(["lnf.g", [d]], ["lnf.b", [d]]);
  return shapes;
}

/**
 * Returns the number of parameters of a model with this config.
 *
 * @example
 * ```ts
 * import { countParameters } from "./model.ts";
 * // wte 10·4 + wpe 8·4 + block (2·4 + 4·12 + 12 + 4·4 + 4 + 2·4 + 4·16 + 16 + 16·4 + 4) + lnf 2·4
 * const n = countParameters({ vocabSize: 10, contextLength: 8, layers: 1, width: 4, heads: 2, mlpWidth: 16, seed: 0 });
 * if (n !== 40 + 32 + 244 + 8) throw new Error(`got ${n}`);
 * ```
 */
export function countParameters(config: ModelConfig): number {
  return parameterShapes(config).reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/** Keys and values of every layer for the positions decoded so far, batch-major [B, H, L, d/H]. */
export class KvCache {
  constructor(public keys: tf.Tensor4D[], public values: tf.Tensor4D[], public length: number) {}

  /** Keeps the first `length` positions (after a rejected speculative block) and frees the rest. */
  truncate(length: number): void {
    if (length >= this.length) return;
    if (length < 0) throw new Error(`cannot truncate a KV cache to ${length} positions`);
    const cut = (t: tf.Tensor4D) => {
      const [b, h, , dh] = t.shape;
      const kept = tf.slice(t, [0, 0, 0, 0], [b, h, length, dh]);
      t.dispose();
      return kept;
    };
    this.keys = this.keys.map(cut);
    this.values = this.values.map(cut);
    this.length = length;
  }

  /** Frees the tensors. */
  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
    this.keys = [];
    this.values = [];
    this.length = 0;
  }
}

const NEG_INF = -1e9;

/** A decoder-only transformer whose weights are TensorFlow.js variables. */
export class TransformerLM {
  readonly config: ModelConfig;
  readonly params: Map<string, tf.Variable>;
  #causalCache = new Map<string, tf.Tensor>();

  private constructor(config: ModelConfig, params: Map<string, tf.Variable>) {
    this.config = config;
    this.params = params;
  }

  /**
   * Creates a model with seeded initialisation: normal(0, 0.02) weights, residual projections
   * scaled by 1/√(2·layers) as in GPT-2, zero biases, unit LayerNorm gains.
   */
  static create(config: ModelConfig): TransformerLM {
    validateModelConfig(config);
    const rng = new Rng(config.seed);
    const params = new Map<string, tf.Variable>();
    const residualStd = 0.02 / Math.sqrt(2 * config.layers);
    for (const [name, shape] of parameterShapes(config)) {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      if (name.endsWith(".g")) {
        data.fill(1);
      } else if (!name.endsWith(".b")) {
        const std = name.endsWith("proj.w") || name.endsWith("out.w") ? residualStd : 0.02;
        for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
      }
      params.set(name, tf.tidy(() => tf.variable(tf.tensor(data, shape), true, `${name}_${crypto.randomUUID()}`)));
    }
    return new TransformerLM(config, params);
  }

  /** Creates a model from named weight arrays, checking every name and shape against the config. */
  static fromWeights(
    config: ModelConfig,
    weights: Map<string, { shape: number[]; data: Float32Array }>,
  ): TransformerLM {
    validateModelConfig(config);
    const params = new Map<string, tf.Variable>();
    for (const [name, shape] of parameterShapes(config)) {
      const weight = weights.get(name);
      if (!weight) {
        throw new Error(
          `checkpoint lacks weight "${name}" that the config requires; was it saved with another config?`,
        );
      }
      if (weight.shape.join(",") !== shape.join(",")) {
        throw new Error(
          `checkpoint weight "${name}" has shape [${weight.shape}] but the config needs [${shape}]; load it with the config it was saved with`,
        );
      }
      params.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(weight.data, shape), true, `${name}_${crypto.randomUUID()}`)),
      );
    }
    return new TransformerLM(config, params);
  }

  /** Number of parameters. */
  get parameterCount(): number {
    return countParameters(this.config);
  }

  /** Returns the trainable variables, in a fixed order. */
  variables(): tf.Variable[] {
    return [...this.params.values()];
  }

  #p(name: string): tf.Variable {
    return this.params.get(name)!;
  }

  /**
   * Runs the full forward pass and returns logits [B·T, V] (row b·T + t predicts token t + 1 of
   * sequence b). `keyMask` [B, T] marks real tokens with 1 and padding with 0; padding keys are
   * hidden from every query. Callers own the result (no tidy inside, so gradients can flow).
   */
  forward(ids: tf.Tensor2D, keyMask?: tf.Tensor2D): tf.Tensor2D {
    const [batch, length] = ids.shape;
    if (length > this.config.contextLength) {
      throw new Error(`sequence of ${length} tokens exceeds the context length ${this.config.contextLength}`);
    }
    let maskBias = this.#causalBias(length, 0, length);
    if (keyMask) {
      const padBias = tf.sub(1, keyMask).mul(NEG_INF).reshape([batch, 1, 1, length]);
      maskBias = maskBias.add(padBias);
    }
    const x = this.#embed(ids, 0);
    const out = this.#blocks(x, batch, length, maskBias, null);
    return out.logits;
  }

  /**
   * Decodes `tokens` (B rows of equal length) after the positions already in `cache` and returns
   * their logits as a flat array [B · T_new · V] plus the extended cache. The old cache object is
   * updated in place and returned; pass null to start a new one.
   *
   * `padding[b]` is the number of left-padding slots at the start of row b (batched decoding of
   * prompts of unequal length): those keys are hidden and row b's positions start after them.
   * Positions past the context length are clamped to its last position: callers keep real
   * tokens within it, and only placeholder tokens of finished rows can go past it.
   */
  decode(tokens: number[][], cache: KvCache | null, padding?: number[]): { logits: Float32Array; cache: KvCache } {
    const batch = tokens.length;
    const length = tokens[0].length;
    const past = cache?.length ?? 0;
    const maxPadding = padding ? Math.max(...padding) : 0;
    if (past + length - maxPadding > this.config.contextLength) {
      throw new Error(
        `decoding past the context length: ${past - maxPadding} cached + ${length} new > ${this.config.contextLength}`,
      );
    }
    if (padding && padding.length !== batch) {
      throw new Error(`padding has ${padding.length} rows but the batch has ${batch}`);
    }
    const result = tf.tidy(() => {
      const ids = tf.tensor2d(tokens.flat(), [batch, length], "int32");
      let maskBias = this.#causalBias(length, past, past + length);
      let x: tf.Tensor2D;
      if (padding) {
        const total = past + length;
        const padBias = new Float32Array(batch * total);
        const positions = new Int32Array(batch * length);
        for (let b = 0; b < batch; b++) {
          for (let j = 0; j < padding[b]; j++) padBias[b * total + j] = NEG_INF;
          for (let i = 0; i < length; i++) {
            const position = Math.max(past + i - padding[b], 0);
            positions[b * length + i] = Math.min(position, this.config.contextLength - 1);
          }
        }
        maskBias = maskBias.add(tf.tensor(padBias, [batch, 1, 1, total]));
        x = this.#embedAt(ids, positions);
      } else {
        x = this.#embed(ids, past);
      }
      const out = this.#blocks(x, batch, length, maskBias, cache);
      return { logits: out.logits, keys: out.keys, values: out.values };
    });
    const logits = result.logits.dataSync() as Float32Array;
    result.logits.dispose();
    if (cache) {
      cache.dispose();
      cache.keys = result.keys;
      cache.values = result.values;
      cache.length = past + length;
    } else {
      cache = new KvCache(result.keys, result.values, length);
    }
    return { logits, cache };
  }

  /** Frees the weights. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const t of this.#causalCache.values()) t.dispose();
    this.#causalCache.clear();
  }

  #embed(ids: tf.Tensor2D, offset: number): tf.Tensor2D {
    const [batch, length] = ids.shape;
    const { vocabSize: v, width: d } = this.config;
    // The gather kernel has no gradient on wasm, so there the embedding is a one-hot product.
    const flatIds = ids.reshape([batch * length]) as tf.Tensor1D;
    const tokens = tf.getBackend() === "wasm"
      ? dense(tf.oneHot(flatIds, v).toFloat() as tf.Tensor2D, this.#p("wte") as tf.Tensor2D)
      : tf.gather(this.#p("wte"), flatIds) as tf.Tensor2D;
    const positions = tf.slice(this.#p("wpe"), [offset, 0], [length, d]);
    return tokens.reshape([batch, length, d]).add(positions).reshape([batch * length, d]) as tf.Tensor2D;
  }

  // Per-row positions; inference only, because gather has no gradient on wasm.
  #embedAt(ids: tf.Tensor2D, positions: Int32Array): tf.Tensor2D {
    const [batch, length] = ids.shape;
    const oneHot = tf.oneHot(ids.reshape([batch * length]), this.config.vocabSize).toFloat() as tf.Tensor2D;
    const tokens = dense(oneHot, this.#p("wte") as tf.Tensor2D);
    return tokens.add(tf.gather(this.#p("wpe"), tf.tensor1d(positions, "int32"))) as tf.Tensor2D;
  }

  // Additive mask [T_new, T_total]: query i (absolute position past + i) attends to keys 0 … past + i.
  #causalBias(newLength: number, past: number, total: number): tf.Tensor {
    const key = `${newLength}:${past}:${total}`;
    let bias = this.#causalCache.get(key);
    if (!bias) {
      const data = new Float32Array(newLength * total);
      for (let i = 0; i < newLength; i++) {
        for (let j = past + i + 1; j < total; j++) data[i * total + j] = NEG_INF;
      }
      bias = tf.keep(tf.tensor(data, [newLength, total]));
      if (this.#causalCache.size < 64) this.#causalCache.set(key, bias);
      else return tf.tensor(data, [newLength, total]);
    }
    return bias;
  }

  #blocks(
    input: tf.Tensor2D,
    batch: number,
    length: number,
    maskBias: tf.Tensor,
    cache: KvCache | null,
  ): { logits: tf.Tensor2D; keys: tf.Tensor4D[]; values: tf.Tensor4D[] } {
    const { width: d, heads: h, layers } = this.config;
    const dh = d / h;
    const scale = 1 / Math.sqrt(dh);
    const keys: tf.Tensor4D[] = [];
    const values: tf.Tensor4D[] = [];
    let x = input;
    const toHeads = (t: tf.Tensor2D) => t.reshape([batch, length, h, dh]).transpose([0, 2, 1, 3]) as tf.Tensor4D;

    for (let l = 0; l < layers; l++) {
      const p = (name: string) => this.#p(`h${l}.${name}`);
      const hidden = layerNorm(x, p("ln1.g") as tf.Tensor1D, p("ln1.b") as tf.Tensor1D);
      const qkv = dense(hidden, p("attn.w") as tf.Tensor2D).add(p("attn.b")) as tf.Tensor2D;
      const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[];
      let kHeads = toHeads(k);
      let vHeads = toHeads(v);
      if (cache && cache.length > 0) {
        kHeads = tf.concat([cache.keys[l], kHeads], 2);
        vHeads = tf.concat([cache.values[l], vHeads], 2);
      }
      keys.push(kHeads);
      values.push(vHeads);
      const total = kHeads.shape[2];

      const q3 = toHeads(q).reshape([batch * h, length, dh]) as tf.Tensor3D;
      const kT = kHeads.transpose([0, 1, 3, 2]).reshape([batch * h, dh, total]) as tf.Tensor3D;
      const scores = batchedMatMul(q3, kT).mul(scale).reshape([batch, h, length, total]).add(maskBias);
      const weights = tf.softmax(scores).reshape([batch * h, length, total]) as tf.Tensor3D;
      const v3 = vHeads.reshape([batch * h, total, dh]) as tf.Tensor3D;
      const attended = batchedMatMul(weights, v3)
        .reshape([batch, h, length, dh])
        .transpose([0, 2, 1, 3])
        .reshape([batch * length, d]) as tf.Tensor2D;
      x = x.add(dense(attended, p("proj.w") as tf.Tensor2D).add(p("proj.b"))) as tf.Tensor2D;

      const hidden2 = layerNorm(x, p("ln2.g") as tf.Tensor1D, p("ln2.b") as tf.Tensor1D);
      const up = gelu(dense(hidden2, p("fc.w") as tf.Tensor2D).add(p("fc.b"))) as tf.Tensor2D;
      x = x.add(dense(up, p("out.w") as tf.Tensor2D).add(p("out.b"))) as tf.Tensor2D;
    }

    const final = layerNorm(x, this.#p("lnf.g") as tf.Tensor1D, this.#p("lnf.b") as tf.Tensor1D);
    const logits = dense(final, tf.transpose(this.#p("wte")) as tf.Tensor2D);
    return { logits, keys, values };
  }
}
