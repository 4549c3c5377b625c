/**
 * AdamW with decoupled weight decay and global-norm gradient clipping, as in PyTorch's
 * `torch.optim.AdamW` and `clip_grad_norm_`.
 *
 * @module
 */
import { tf } from "./tf.ts";

/** AdamW settings. Defaults follow the authors' runs. */
export interface AdamWConfig {
  /** Learning rate (constant, no warm-up). */
  learningRate: number;
  /** Decoupled weight decay; 0.1 by default. Biases and LayerNorm parameters are not decayed. */
  weightDecay?: number;
  /** First-moment decay; 0.9 by default. */
  beta1?: number;
  /** Second-moment decay; 0.999 by default. */
  beta2?: number;
  /** Denominator term; 1e-8 by default. */
  epsilon?: number;
  /** Maximum global gradient norm; 1.0 by default; 0 disables clipping. */
  maxGradNorm?: number;
}

/** AdamW over a fixed set of named variables. */
export class AdamW {
  readonly config: Required<AdamWConfig>;
  #step = 0;
  #moments = new Map<string, { m: tf.Variable; v: tf.Variable; decay: boolean }>();

  constructor(variables: Map<string, tf.Variable>, config: AdamWConfig) {
    this.config = {
      weightDecay: 0.1,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      maxGradNorm: 1.0,
      ...config,
    };
    if (!(this.config.learningRate > 0)) {
      throw new Error(`invalid learning rate ${config.learningRate}: use a positive number such as 3e-4`);
    }
    for (const [name, variable] of variables) {
      this.#moments.set(variable.name, {
        // tidy frees the zero tensors; the variables keep their own reference to the data.
        m: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
        v: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
        decay: !(name.endsWith(".b") || name.endsWith(".g")),
      });
    }
  }

  /**
   * Clips the gradients to the maximum global norm, applies one AdamW update, and returns the
   * global norm before clipping.
   */
  apply(variables: tf.Variable[], grads: tf.NamedTensorMap): number {
    this.#step++;
    const { learningRate: lr, weightDecay, beta1, beta2, epsilon, maxGradNorm } = this.config;
    const norm = tf.tidy(() => {
      const squares = variables.map((v) => tf.sum(tf.square(grads[v.name])));
      return tf.sqrt(tf.addN(squares)).dataSync()[0];
    });
    const scale = maxGradNorm > 0 ? Math.min(1, maxGradNorm / (norm + 1e-6)) : 1;
    const correction1 = 1 - beta1 ** this.#step;
    const correction2 = 1 - beta2 ** this.#step;
    tf.tidy(() => {
      for (const variable of variables) {
        const state = this.#moments.get(variable.name)!;
        const grad = scale === 1 ? grads[variable.name] : grads[variable.name].mul(scale);
        state.m.assign(state.m.mul(beta1).add(grad.mul(1 - beta1)));
        state.v.assign(state.v.mul(beta2).add(grad.square().mul(1 - beta2)));
        const update = state.m.div(correction1).div(state.v.div(correction2).sqrt().add(epsilon));
        const decayed = state.decay && weightDecay > 0 ? variable.mul(1 - lr * weightDecay) : variable;
        variable.assign(decayed.sub(update.mul(lr)));
      }
    });
    return norm;
  }

  /** Frees the moment tensors. */
  dispose(): void {
    for (const { m, v } of this.#moments.values()) {
      m.dispose();
      v.dispose();
    }
  }
}
