/**
 * Seeded pseudo-random numbers: every random choice of the library (initialisation, shuffling,
 * splits) goes through these, so the same seed gives the same numbers on every backend.
 *
 * @module
 */

/** A seeded generator of uniform numbers in [0, 1) (mulberry32) with normal and integer helpers. */
export class Rng {
  #state: number;
  #spareNormal: number | null = null;

  /**
   * Creates a generator from an integer seed.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * const a = new Rng(42), b = new Rng(42);
   * if (a.next() !== b.next()) throw new Error("same seed must give the same numbers");
   * ```
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) {
      throw new Error(`invalid seed ${seed}: use an integer`);
    }
    this.#state = seed >>> 0;
  }

  /** Returns the next uniform number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns a standard normal number (Box–Muller, caching the second value). */
  normal(): number {
    if (this.#spareNormal !== null) {
      const value = this.#spareNormal;
      this.#spareNormal = null;
      return value;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  /** Returns an integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/**
 * Returns a 64-bit FNV-1a hash of `text` as 16 hex digits: a stable key for caches.
 *
 * @example
 * ```ts
 * import { hashText } from "./rng.ts";
 * if (hashText("") !== "cbf29ce484222325") throw new Error("FNV-1a offset basis expected");
 * ```
 */
export function hashText(text: string): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const bytes = new TextEncoder().encode(text);
  for (const byte of bytes) {
    hash ^= BigInt(byte);
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

/** Returns a JSON string of `value` with object keys sorted, so equal configs hash equally. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => compareStrings(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}
