/**
 * File helpers for results and reports: atomic writes, JSON Lines output and
 * JSON reads whose errors name the file.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/**
 * Writes `text` to `path` atomically: creates the parent directories, writes a
 * temporary file in the same directory, then renames it over `path`.
 *
 * Readers see either the old file or the complete new one, never a partial
 * write, because a rename within one directory is atomic on POSIX file
 * systems. The temporary file is removed if the write or rename fails.
 * NOTE: nothing is fsynced, so a power loss can still lose the new contents.
 *
 * @example
 * ```ts ignore
 * await writeTextAtomic("out/run-1/summary.md", "# Summary\n");
 * ```
 */
export async function writeTextAtomic(
  path: string,
  text: string,
): Promise<void> {
  await writeBytesAtomic(path, new TextEncoder().encode(text));
}

/**
 * Writes `bytes` to `path` atomically, in the same way as
 * {@linkcode writeTextAtomic}.
 *
 * @example
 * ```ts ignore
 * await writeBytesAtomic("out/plot.png", pngBytes);
 * ```
 */
export async function writeBytesAtomic(
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const directory = dirname(path);
  await Deno.mkdir(directory, { recursive: true });

  const tempPath = join(
    directory,
    `.${basename(path)}.${crypto.randomUUID()}.tmp`,
  );
  try {
    await Deno.writeFile(tempPath, bytes);
    await Deno.rename(tempPath, path);
  } catch (error) {
    await Deno.remove(tempPath).catch(() => {});
    throw error;
  }
}

/**
 * Reads and parses the JSON file at `path`.
 *
 * `what` names the file's role in error messages, for example "Run config".
 * The parsed value is cast to `T` without validation.
 *
 * @throws {Error} `"<what> not found: <path>. <hint>"` when the file does not
 * exist, where `hint` defaults to a generic suggestion.
 * @throws {Error} When the file is not valid JSON. The message names the path
 * and the parse position that the JSON parser reports.
 *
 * @example
 * ```ts ignore
 * const config = await readJsonFile<{ seed: number }>(
 *   "runs/a/config.json",
 *   "Run config",
 *   "Run the training task first to create it.",
 * );
 * ```
 */
export async function readJsonFile<T>(
  path: string,
  what: string,
  hint = "Check the path, or create the file first.",
): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${what} not found: ${path}. ${hint}`, { cause: error });
    }
    throw error;
  }

  try {
    return JSON.parse(text) as T;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`${what} at ${path} is not valid JSON: ${detail}`, {
      cause: error,
    });
  }
}

/**
 * Writes `records` to `path` as JSON Lines (one `JSON.stringify` result per
 * line, each ending in `\n`), atomically as in {@linkcode writeTextAtomic}.
 * An empty `records` array writes an empty file.
 *
 * @throws {TypeError} When a record has no JSON form, for example a function,
 * or cannot be serialized, for example a `bigint` or a cyclic object.
 *
 * @example
 * ```ts ignore
 * await writeJsonLines("out/samples.jsonl", [{ id: 1 }, { id: 2 }]);
 * ```
 */
export async function writeJsonLines(
  path: string,
  records: readonly object[],
): Promise<void> {
  const lines = records.map((record, index) => {
    const line = JSON.stringify(record);
    if (line === undefined) {
      throw new TypeError(
        `Record ${index} for ${path} has no JSON form. Pass plain objects.`,
      );
    }
    return line + "\n";
  });
  await writeTextAtomic(path, lines.join(""));
}
