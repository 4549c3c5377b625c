/**
 * Byte-level byte-pair-encoding (BPE) tokenizer, trained on text and stored as JSON.
 *
 * Token ids:
 * - 0 is the special token `<|endoftext|>` (see {@link BpeTokenizer.eosId}).
 * - 1..256 are the single bytes 0x00..0xFF (id = byte + 1).
 * - 257 onwards are merges, in the order training learned them: merge `i`
 *   creates token `257 + i` from two earlier tokens.
 *
 * Because every string is first turned into UTF-8 bytes, any well-formed
 * string can be encoded and `decode(encode(s)) === s` holds.
 *
 * @module
 */

/** Text of the end-of-text special token, which always has id 0. */
export const END_OF_TEXT = "<|endoftext|>";

/** Special tokens in id order. Only `<|endoftext|>` is supported so far. */
const SPECIAL_TOKENS: readonly string[] = [END_OF_TEXT];

/** Id of the first byte token, right after the special tokens. */
const FIRST_BYTE_ID = SPECIAL_TOKENS.length;

/** Id of the first merged token, right after the 256 byte tokens. */
const FIRST_MERGE_ID = FIRST_BYTE_ID + 256;

/** Smallest allowed vocabulary: the special tokens plus the 256 bytes, with no merges. */
export const MIN_VOCAB_SIZE = FIRST_MERGE_ID;

/**
 * Largest allowed vocabulary. Pair keys are `left * vocabSize + right`, which
 * stays an exact integer in a double only while vocabSize² < 2⁵³, and 2²⁴
 * leaves a wide margin.
 */
export const MAX_VOCAB_SIZE = 2 ** 24;

/** Name of the pre-tokenization rule, stored in the JSON so a file made with another rule is rejected. */
const PRETOKENIZER_NAME = "gpt2-single-digits-v1";

/**
 * Pre-tokenization pattern in the GPT-2 style. Merges never cross the
 * boundaries between the chunks it matches. The alternatives, in order:
 * - English contractions ('s 't 're 've 'm 'll 'd).
 * - An optional space and a run of letters and combining marks.
 * - An optional space and ONE digit. Numbers are always split into single
 *   digits, so "1234" is four tokens whatever the training text was, which
 *   keeps arithmetic text consistent.
 * - An optional space and a run of other symbols.
 * - Whitespace not followed by a non-space, so the last space before a word
 *   joins that word.
 * - Any other whitespace run.
 *
 * Together these match every code point, so no input text is dropped.
 */
const PRETOKENIZE_PATTERN = /'(?:[sdmt]|ll|ve|re)| ?[\p{L}\p{M}]+| ?\p{N}| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Maximum number of chunks kept in the per-tokenizer encode cache before it is cleared. */
const ENCODE_CACHE_LIMIT = 200_000;

/** Options for {@link BpeTokenizer.train}. */
export interface BpeTrainOptions {
  /**
   * Requested total vocabulary size, including the special token and the
   * 256 byte tokens, so at least 257. Training stops earlier when no adjacent
   * pair is left to merge.
   */
  vocabSize: number;
}

/**
 * JSON form of a tokenizer, as written by {@link BpeTokenizer.save}.
 *
 * `merges[i]` is the pair of token ids that merge into token `257 + i`; both
 * ids must be lower than `257 + i`. `vocabSize` must equal `257 + merges.length`.
 * `specialTokens[i]` is the text of special token id `i`.
 */
export interface TokenizerJSON {
  /** Format tag, always `"byte-bpe"`. */
  type: "byte-bpe";
  /** Format version, always 1. */
  version: 1;
  /** Name of the pre-tokenization rule, always `"gpt2-single-digits-v1"`. */
  pretokenizer: string;
  /** Total number of token ids. */
  vocabSize: number;
  /** Special token texts in id order, always `["<|endoftext|>"]`. */
  specialTokens: string[];
  /** Merge rules in the order they apply, as `[leftId, rightId]` pairs. */
  merges: [number, number][];
}

/** Map key of a token pair. It is unique per (left, right) because both ids are below `base`. */
function pairKey(left: number, right: number, base: number): number {
  return left * base + right;
}

/** Splits text into pre-tokenization chunks; see {@link PRETOKENIZE_PATTERN}. */
function pretokenize(text: string): string[] {
  return text.match(PRETOKENIZE_PATTERN) ?? [];
}

function validateVocabSize(vocabSize: unknown): number {
  if (
    typeof vocabSize !== "number" || !Number.isInteger(vocabSize) ||
    vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE
  ) {
    throw new RangeError(
      `Invalid vocabSize ${String(vocabSize)}: it must be an integer from ` +
        `${MIN_VOCAB_SIZE} (${SPECIAL_TOKENS.length} special token + 256 byte tokens) ` +
        `to ${MAX_VOCAB_SIZE}. Pass a larger vocabSize, for example 1024.`,
    );
  }
  return vocabSize;
}

/**
 * Computes the FNV-1a 64-bit hash of the UTF-8 bytes of `text` as 16 hex digits.
 * The 64-bit state is kept as two 32-bit halves because every intermediate
 * product stays below 2⁵³, so plain numbers are exact and faster than BigInt.
 */
function fnv1a64Hex(text: string): string {
  const bytes = new TextEncoder().encode(text);
  // Offset basis 0xcbf29ce484222325.
  let high = 0xcbf29ce4;
  let low = 0x84222325;
  for (const byte of bytes) {
    // XOR yields a signed 32-bit result, so convert back to unsigned before multiplying.
    low = (low ^ byte) >>> 0;
    // Multiply by the prime 0x100000001b3 = 2^40 + 0x1b3, modulo 2^64.
    const lowProduct = low * 0x1b3;
    const carry = Math.floor(lowProduct / 0x1_0000_0000);
    high = (high * 0x1b3 + carry + (low * 256)) >>> 0;
    low = lowProduct >>> 0;
  }
  return high.toString(16).padStart(8, "0") + low.toString(16).padStart(8, "0");
}

/** Formats one token's bytes for display; see {@link BpeTokenizer.tokenText}. */
function formatTokenBytes(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // A token may hold part of a multi-byte character, so show its bytes.
    return Array.from(
      bytes,
      (byte) => `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`,
    ).join("");
  }
  let readable = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === " ") readable += "␣";
    else if (char === "\n") readable += "\\n";
    else if (char === "\r") readable += "\\r";
    else if (char === "\t") readable += "\\t";
    else if (code < 0x20 || code === 0x7f) {
      readable += `\\x${code.toString(16).padStart(2, "0")}`;
    } else readable += char;
  }
  return readable;
}

/**
 * Byte-level BPE tokenizer with one special token, `<|endoftext|>` (id 0).
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { BpeTokenizer } from "./tokenizer.ts";
 *
 * const tokenizer = BpeTokenizer.train(["the cat sat on the mat"], { vocabSize: 300 });
 * const ids = tokenizer.encode("the mat 🐈");
 * assert.equal(tokenizer.decode(ids), "the mat 🐈");
 * ```
 */
export class BpeTokenizer {
  /** Total number of token ids: `257 + number of merges`. */
  readonly vocabSize: number;

  /** Id of `<|endoftext|>`, always 0. */
  readonly eosId: number = 0;

  readonly #merges: readonly (readonly [number, number])[];
  /** Merge rank by pair key. The merged token id is `FIRST_MERGE_ID + rank`. */
  readonly #mergeRanks = new Map<number, number>();
  /** UTF-8 bytes of every token, indexed by id. */
  readonly #tokenBytes: Uint8Array[];
  readonly #encodeCache = new Map<string, readonly number[]>();
  readonly #encoder = new TextEncoder();
  #fingerprint: string | undefined;

  /** Builds a tokenizer from already validated merges; use {@link train} or {@link fromJSON}. */
  private constructor(merges: readonly (readonly [number, number])[]) {
    this.#merges = merges;
    this.vocabSize = FIRST_MERGE_ID + merges.length;

    this.#tokenBytes = SPECIAL_TOKENS.map((text) => this.#encoder.encode(text));
    for (let byte = 0; byte < 256; byte++) {
      this.#tokenBytes.push(Uint8Array.of(byte));
    }
    merges.forEach(([left, right], rank) => {
      const leftBytes = this.#tokenBytes[left];
      const rightBytes = this.#tokenBytes[right];
      const merged = new Uint8Array(leftBytes.length + rightBytes.length);
      merged.set(leftBytes, 0);
      merged.set(rightBytes, leftBytes.length);
      this.#tokenBytes.push(merged);
      this.#mergeRanks.set(pairKey(left, right, this.vocabSize), rank);
    });
  }

  /**
   * Trains a tokenizer: counts the pre-tokenization chunks of `texts`, then
   * repeatedly merges the most frequent adjacent token pair until the
   * vocabulary reaches `options.vocabSize` or no pair is left.
   *
   * Pair counts include overlapping pairs ("aaa" counts (a, a) twice, though
   * merging it yields one "aa"). Ties go to the pair with the lowest left id,
   * then the lowest right id, so training is deterministic. The text
   * `<|endoftext|>` inside `texts` is treated as plain bytes.
   *
   * NOTE: when the texts run out of pairs, the returned `vocabSize` is
   * smaller than requested. Callers that size embeddings should read
   * `tokenizer.vocabSize`, not the option.
   *
   * @throws {RangeError} when `options.vocabSize` is not an integer from 257 to 2²⁴.
   */
  static train(
    texts: Iterable<string>,
    options: BpeTrainOptions,
  ): BpeTokenizer {
    const targetSize = validateVocabSize(options.vocabSize);

    const chunkCounts = new Map<string, number>();
    for (const text of texts) {
      for (const chunk of pretokenize(text)) {
        chunkCounts.set(chunk, (chunkCounts.get(chunk) ?? 0) + 1);
      }
    }

    const encoder = new TextEncoder();
    const words: number[][] = [];
    const wordCounts: number[] = [];
    for (const [chunk, count] of chunkCounts) {
      words.push(
        Array.from(encoder.encode(chunk), (byte) => byte + FIRST_BYTE_ID),
      );
      wordCounts.push(count);
    }

    const merges = learnMerges(words, wordCounts, targetSize);
    return new BpeTokenizer(merges);
  }

  /**
   * Encodes text to token ids. No special tokens are added, and the text
   * `<|endoftext|>` is encoded as plain bytes, so user text cannot produce id 0.
   *
   * NOTE: a lone UTF-16 surrogate cannot be encoded as UTF-8, so it becomes
   * U+FFFD and does not survive the round trip.
   */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const chunk of pretokenize(text)) {
      let chunkIds = this.#encodeCache.get(chunk);
      if (chunkIds === undefined) {
        chunkIds = this.#encodeChunk(chunk);
        // Clearing is cheaper than evicting one entry at a time, and frequent chunks return quickly.
        if (this.#encodeCache.size >= ENCODE_CACHE_LIMIT) {
          this.#encodeCache.clear();
        }
        this.#encodeCache.set(chunk, chunkIds);
      }
      for (const id of chunkIds) ids.push(id);
    }
    return ids;
  }

  /** Applies the merges to one chunk, lowest rank first, the way training applied them. */
  #encodeChunk(chunk: string): number[] {
    let ids = Array.from(
      this.#encoder.encode(chunk),
      (byte) => byte + FIRST_BYTE_ID,
    );
    while (ids.length > 1) {
      let bestRank = Infinity;
      let bestLeft = -1;
      let bestRight = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.#mergeRanks.get(
          pairKey(ids[i], ids[i + 1], this.vocabSize),
        );
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestLeft = ids[i];
          bestRight = ids[i + 1];
        }
      }
      if (bestRank === Infinity) break;
      ids = mergePair(ids, bestLeft, bestRight, FIRST_MERGE_ID + bestRank);
    }
    return ids;
  }

  /**
   * Decodes token ids to text. Special tokens decode to their text, for example
   * `"<|endoftext|>"`. Byte sequences that are not valid UTF-8 decode to
   * U+FFFD instead of throwing.
   *
   * @throws {RangeError} when an id is not an integer from 0 to `vocabSize - 1`.
   */
  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.#bytesOf(ids[i]);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      all.set(part, offset);
      offset += part.length;
    }
    return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(
      all,
    );
  }

  /**
   * Returns a readable form of one token, for figures and debugging.
   * - Special tokens appear as their text.
   * - A space appears as "␣", so leading spaces stay visible.
   * - Newline, carriage return and tab appear as `\n`, `\r`, `\t`, and other
   *   control characters as `\xHH`.
   * - A token that is not valid UTF-8 on its own (part of a multi-byte
   *   character) appears as its bytes, such as `<0xE2><0x82>`.
   *
   * @throws {RangeError} when `id` is not an integer from 0 to `vocabSize - 1`.
   */
  tokenText(id: number): string {
    if (id >= 0 && id < FIRST_BYTE_ID) return SPECIAL_TOKENS[id];
    return formatTokenBytes(this.#bytesOf(id));
  }

  #bytesOf(id: number): Uint8Array {
    const bytes = Number.isInteger(id) ? this.#tokenBytes[id] : undefined;
    if (bytes === undefined) {
      throw new RangeError(
        `Invalid token id ${id}: ids must be integers from 0 to ${this.vocabSize - 1}. ` +
          `Decode ids only with the tokenizer that produced them.`,
      );
    }
    return bytes;
  }

  /** Returns the JSON form described by {@link TokenizerJSON}. The merges are copied. */
  toJSON(): TokenizerJSON {
    return {
      type: "byte-bpe",
      version: 1,
      pretokenizer: PRETOKENIZER_NAME,
      vocabSize: this.vocabSize,
      specialTokens: [...SPECIAL_TOKENS],
      merges: this.#merges.map(([left, right]) => [left, right]),
    };
  }

  /**
   * Builds a tokenizer from its JSON form, as parsed from a file.
   *
   * @throws {Error} naming the invalid field and how to fix it when `json`
   * does not match {@link TokenizerJSON}.
   */
  static fromJSON(json: unknown): BpeTokenizer {
    return new BpeTokenizer(validateTokenizerJSON(json));
  }

  /**
   * Writes the tokenizer as JSON to `path`. The file is written to a
   * temporary file in the same directory and then renamed, so readers never
   * see a partly written file.
   */
  async save(path: string): Promise<void> {
    const tempPath = `${path}.tmp-${crypto.randomUUID()}`;
    try {
      await Deno.writeTextFile(tempPath, JSON.stringify(this.toJSON()) + "\n");
      await Deno.rename(tempPath, path);
    } catch (error) {
      await Deno.remove(tempPath).catch(() => {});
      throw error;
    }
  }

  /**
   * Reads a tokenizer written by {@link save}.
   *
   * @throws {Error} naming `path` when the file is missing, is not JSON, or
   * fails {@link fromJSON} validation.
   */
  static async load(path: string): Promise<BpeTokenizer> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          `Tokenizer file not found: ${path}. Train a tokenizer and save it there ` +
            `with BpeTokenizer.save, or pass the path of an existing tokenizer file.`,
          { cause: error },
        );
      }
      throw error;
    }

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(
        `Tokenizer file ${path} is not valid JSON (${(error as Error).message}). ` +
          `Write it again with BpeTokenizer.save.`,
        { cause: error },
      );
    }

    try {
      return BpeTokenizer.fromJSON(json);
    } catch (error) {
      throw new Error(
        `Tokenizer file ${path} is invalid: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  /**
   * Returns a stable identifier of the vocabulary and merges: the FNV-1a
   * 64-bit hash, as 16 hex digits, of the UTF-8 bytes of
   * `JSON.stringify(this.toJSON())`. FNV-1a is not a cryptographic hash, so
   * it detects mistakes, not deliberate collisions.
   */
  fingerprint(): string {
    this.#fingerprint ??= fnv1a64Hex(JSON.stringify(this.toJSON()));
    return this.#fingerprint;
  }
}

/** Returns a copy of `ids` with every non-overlapping (left, right) pair, scanned left to right, replaced by `mergedId`. */
function mergePair(
  ids: readonly number[],
  left: number,
  right: number,
  mergedId: number,
): number[] {
  const merged: number[] = [];
  let i = 0;
  while (i < ids.length) {
    if (i + 1 < ids.length && ids[i] === left && ids[i + 1] === right) {
      merged.push(mergedId);
      i += 2;
    } else {
      merged.push(ids[i]);
      i += 1;
    }
  }
  return merged;
}

/**
 * Learns merges on distinct chunks (`words`, as byte token ids) weighted by
 * `wordCounts`, until the vocabulary has `targetSize` ids or no pair is left.
 *
 * Pair counts are updated incrementally: each merge rewrites only the words
 * that contain the chosen pair, found through an index from pair to words.
 * The index is not pruned when a word loses a pair, so each listed word is
 * checked again before it is rewritten.
 */
function learnMerges(
  words: number[][],
  wordCounts: number[],
  targetSize: number,
): [number, number][] {
  // Any base above the largest id gives unique keys, and with base = targetSize
  // numeric key order equals (left, right) order, which the tie-break relies on.
  const base = targetSize;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();

  const addPairs = (wordIndex: number, sign: 1 | -1) => {
    const word = words[wordIndex];
    const count = wordCounts[wordIndex] * sign;
    for (let i = 0; i + 1 < word.length; i++) {
      const key = pairKey(word[i], word[i + 1], base);
      const updated = (pairCounts.get(key) ?? 0) + count;
      if (updated === 0) pairCounts.delete(key);
      else pairCounts.set(key, updated);
      if (sign === 1) {
        let wordSet = pairWords.get(key);
        if (wordSet === undefined) {
          wordSet = new Set();
          pairWords.set(key, wordSet);
        }
        wordSet.add(wordIndex);
      }
    }
  };

  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  const merges: [number, number][] = [];
  while (FIRST_MERGE_ID + merges.length < targetSize) {
    // A linear scan is fast enough: a few tens of thousands of live pairs
    // times ~1000 merges, and it makes the tie-break trivial to read.
    let bestKey = -1;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    if (bestCount <= 0) break;

    const left = Math.floor(bestKey / base);
    const right = bestKey % base;
    const mergedId = FIRST_MERGE_ID + merges.length;
    merges.push([left, right]);

    const candidates = pairWords.get(bestKey) ?? new Set<number>();
    pairWords.delete(bestKey);
    for (const wordIndex of candidates) {
      const word = words[wordIndex];
      if (!containsPair(word, left, right)) continue;
      addPairs(wordIndex, -1);
      words[wordIndex] = mergePair(word, left, right, mergedId);
      addPairs(wordIndex, 1);
    }
    // Every occurrence was rewritten, so the count is already 0. Deleting it
    // anyway guarantees that the loop never picks the same pair twice.
    pairCounts.delete(bestKey);
  }
  return merges;
}

function containsPair(
  word: readonly number[],
  left: number,
  right: number,
): boolean {
  for (let i = 0; i + 1 < word.length; i++) {
    if (word[i] === left && word[i + 1] === right) return true;
  }
  return false;
}

/** Throws an error that names the invalid field of a tokenizer JSON file and the fix. */
function invalidField(field: string, problem: string): never {
  throw new Error(
    `Invalid tokenizer JSON: field "${field}" ${problem}. ` +
      `Load a file written by BpeTokenizer.save, or train and save the tokenizer again.`,
  );
}

/** Checks `json` against {@link TokenizerJSON} and returns its merges. */
function validateTokenizerJSON(json: unknown): [number, number][] {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    invalidField(
      "(root)",
      `must be an object, got ${Array.isArray(json) ? "an array" : String(json)}`,
    );
  }
  const record = json as Record<string, unknown>;

  if (record.type !== "byte-bpe") {
    invalidField(
      "type",
      `must be "byte-bpe", got ${JSON.stringify(record.type)}`,
    );
  }
  if (record.version !== 1) {
    invalidField("version", `must be 1, got ${JSON.stringify(record.version)}`);
  }
  if (record.pretokenizer !== PRETOKENIZER_NAME) {
    invalidField(
      "pretokenizer",
      `must be "${PRETOKENIZER_NAME}", got ${JSON.stringify(record.pretokenizer)}`,
    );
  }

  const specials = record.specialTokens;
  if (
    !Array.isArray(specials) || specials.length !== SPECIAL_TOKENS.length ||
    specials.some((text, i) => text !== SPECIAL_TOKENS[i])
  ) {
    invalidField(
      "specialTokens",
      `must be ${JSON.stringify(SPECIAL_TOKENS)}, got ${JSON.stringify(specials)}`,
    );
  }

  const rawMerges = record.merges;
  if (!Array.isArray(rawMerges)) {
    invalidField(
      "merges",
      `must be an array of [leftId, rightId] pairs, got ${JSON.stringify(rawMerges)}`,
    );
  }
  const merges: [number, number][] = [];
  const seen = new Set<string>();
  rawMerges.forEach((pair: unknown, i: number) => {
    const newId = FIRST_MERGE_ID + i;
    const isValid = Array.isArray(pair) && pair.length === 2 &&
      pair.every((id) => Number.isInteger(id) && id >= FIRST_BYTE_ID && id < newId);
    if (!isValid) {
      invalidField(
        `merges[${i}]`,
        `must be a pair of token ids from ${FIRST_BYTE_ID} to ${newId - 1} ` +
          `(bytes or earlier merges), got ${JSON.stringify(pair)}`,
      );
    }
    const [left, right] = pair as [number, number];
    const text = `${left},${right}`;
    if (seen.has(text)) {
      invalidField(
        `merges[${i}]`,
        `repeats the earlier merge ${JSON.stringify(pair)}`,
      );
    }
    seen.add(text);
    merges.push([left, right]);
  });

  const expectedSize = FIRST_MERGE_ID + merges.length;
  if (record.vocabSize !== expectedSize) {
    invalidField(
      "vocabSize",
      `must be ${expectedSize} (${FIRST_MERGE_ID} + ${merges.length} merges), got ${JSON.stringify(record.vocabSize)}`,
    );
  }
  validateVocabSize(expectedSize);
  return merges;
}

/**
 * Throws unless two models use the same tokenizer, compared by vocabulary
 * size and {@link BpeTokenizer.fingerprint}. Token ids from different
 * tokenizers mean different text, so comparing such models is meaningless.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertSameTokenizer, BpeTokenizer } from "./tokenizer.ts";
 *
 * const small = BpeTokenizer.train(["abc abc"], { vocabSize: 258 });
 * const copy = BpeTokenizer.fromJSON(small.toJSON());
 * assertSameTokenizer({ name: "a", tokenizer: small }, { name: "b", tokenizer: copy });
 * ```
 *
 * @throws {Error} naming both models, their vocabulary sizes and fingerprints.
 */
export function assertSameTokenizer(
  a: { name: string; tokenizer: BpeTokenizer },
  b: { name: string; tokenizer: BpeTokenizer },
): void {
  const fingerprintA = a.tokenizer.fingerprint();
  const fingerprintB = b.tokenizer.fingerprint();
  if (
    a.tokenizer.vocabSize === b.tokenizer.vocabSize &&
    fingerprintA === fingerprintB
  ) return;
  throw new Error(
    `Tokenizer mismatch: model "${a.name}" uses vocabSize ${a.tokenizer.vocabSize} ` +
      `(fingerprint ${fingerprintA}) but model "${b.name}" uses vocabSize ` +
      `${b.tokenizer.vocabSize} (fingerprint ${fingerprintB}). Train all models of an ` +
      `experiment with one tokenizer: save it once and load the same file for every model.`,
  );
}
