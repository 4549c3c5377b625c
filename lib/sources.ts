/**
 * Task data sources, tried in order: the data folder (`--data-dir` or `ADASPEC_DATA_DIR`),
 * the local cache folder, a download into that cache, and last the built-in synthetic stand-ins.
 * Downloads print progress, are resumed with HTTP Range requests after an interruption, are checked
 * against a SHA-256 checksum and are renamed into place only when complete.
 *
 * @module
 */
import { dirname } from "node:path";
import { DATA_DIR_ENV } from "./data.ts";
import { loadSyntheticSplits } from "./synthetic.ts";
import {
  findSplitFile,
  getTask,
  loadTaskSplits,
  type Split,
  type TaskExample,
  taskFileStems,
  type TaskName,
} from "./tasks.ts";

/** The environment variable naming a mirror: a base URL that serves files as `<base>/<task folder>/<file>`. */
export const DATA_URL_ENV = "ADASPEC_DATA_URL";

/** The environment variable naming the cache folder; downloaded data goes to its `data/` subfolder. */
export const CACHE_DIR_ENV = "ADASPEC_CACHE_DIR";

/** One downloadable data file. */
export interface DownloadEntry {
  /** The path inside the data folder, which is also the path under a mirror's base URL. */
  path: string;
  /** The SHA-256 of the file, lowercase hex. */
  sha256: string;
  /** The file size in bytes. */
  bytes: number;
  /** The canonical upstream URL, where the upstream file has exactly these bytes. */
  url?: string;
}

const GSM8K_URL = "https://raw.githubusercontent.com/openai/grade-school-math/" +
  "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data";

/**
 * The files of each task in the data-folder layout, with checksums of the copies this project was
 * built against. Only GSM8K's files are published upstream byte for byte, so only they have a
 * canonical URL. The other tasks' copies are subsets or conversions, so they download only from a
 * mirror of the data-folder layout (`baseUrl` or `ADASPEC_DATA_URL`).
 */
export const DOWNLOADS: Readonly<Record<TaskName, readonly DownloadEntry[]>> = {
  gsm8k: [
    {
      path: "gsm8k/train.jsonl",
      sha256: "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
      bytes: 4166206,
      url: `${GSM8K_URL}/train.jsonl`,
    },
    {
      path: "gsm8k/test.jsonl",
      sha256: "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
      bytes: 749738,
      url: `${GSM8K_URL}/test.jsonl`,
    },
  ],
  alpaca: [
    {
      path: "alpaca/train.jsonl",
      sha256: "fefc43ebcbc2b0f3b6a32596103a6f74501ebcfd465d66d9f05127ecdb63f093",
      bytes: 2036112,
    },
  ],
  mbpp: [
    {
      path: "mbpp/train.jsonl",
      sha256: "3ad0217c9f73d1bc3deb5cb76066ec01b469372647c5c213bc4f611fb6e2c604",
      bytes: 213580,
    },
    {
      path: "mbpp/validation.jsonl",
      sha256: "71142bc3e723d26d5b9ded84979cec6822e38e0988aef179a35eda47f6456dbd",
      bytes: 51301,
    },
    {
      path: "mbpp/test.jsonl",
      sha256: "9bcaa67d5c2943e95eb9d9127e844f0551a77ac910c664aa45a4ebd75d239bd9",
      bytes: 293373,
    },
  ],
  cnn_dailymail: [
    {
      path: "cnn_dailymail/validation.jsonl",
      sha256: "0c086241c37226cd0cd3565277a061dace6154b0f2a927119b313635c8c319b3",
      bytes: 2824127,
    },
  ],
  xsum: [
    {
      path: "xsum/validation.jsonl",
      sha256: "593e8b950761fabf9a75622b9495d226bfb83c0b625c828adf4c19c6cc0b176a",
      bytes: 1671745,
    },
    {
      path: "xsum/test.jsonl",
      sha256: "2a8210c1964e1c9a32023e7c10e7ba620bad52c606724c2b8bd236e496236fb7",
      bytes: 1172034,
    },
  ],
};

/** The error of a download whose bytes do not match the expected SHA-256. */
export class ChecksumError extends Error {
  /** Creates the error for `url` with the expected and the actual hex digest. */
  constructor(readonly url: string, readonly expected: string, readonly actual: string) {
    super(
      `checksum mismatch for ${url}: expected sha256 ${expected}, got ${actual}; ` +
        `the downloaded file was removed, so check the URL or the mirror and retry`,
    );
    this.name = "ChecksumError";
  }
}

/** Options of {@linkcode downloadFile}. */
export interface DownloadOptions {
  /** Receives progress and retry lines; defaults to `console.error`. */
  log?: (line: string) => void;
  /** Requests per file before giving up, each resuming where the last stopped (default 3). */
  attempts?: number;
  /** Bytes between two progress lines (default 1 MiB). */
  progressBytes?: number;
  /** Milliseconds to wait for the response headers of one request (default 30,000). */
  connectTimeoutMs?: number;
}

/** Returns the lowercase hex SHA-256 of a file's contents. */
export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/**
 * Downloads `url` to `dest`. The bytes go to `dest + ".part"`. An interrupted transfer is resumed from
 * that file's size with a `Range` request, on a later attempt or a later call. When the transfer is
 * complete its SHA-256 is checked and the file is renamed to `dest`, so `dest` exists only when whole.
 *
 * @throws {ChecksumError} When the bytes do not match `sha256`; the `.part` file is removed.
 * @throws {Error} When every attempt fails; the message gives the last error, and the `.part` file is
 * kept for resuming.
 */
export async function downloadFile(
  url: string,
  dest: string,
  sha256: string,
  options: DownloadOptions = {},
): Promise<void> {
  const log = options.log ?? console.error;
  const attempts = options.attempts ?? 3;
  const progressBytes = options.progressBytes ?? 2 ** 20;
  const part = `${dest}.part`;
  await Deno.mkdir(dirname(dest), { recursive: true });

  for (let attempt = 1;; attempt++) {
    const offset = await fileSize(part);
    try {
      const done = await fetchInto(url, part, offset, options.connectTimeoutMs ?? 30_000, progressBytes, log);
      if (done) break;
    } catch (error) {
      const received = await fileSize(part);
      const reason = (error as Error).message;
      if (attempt >= attempts) {
        throw new Error(`download of ${url} failed after ${attempts} attempts: ${reason}`, { cause: error });
      }
      log(
        `download of ${url} stopped at ${received} bytes (${reason}); resuming, attempt ${attempt + 1} of ${attempts}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }

  const actual = await sha256File(part);
  if (actual !== sha256) {
    await Deno.remove(part);
    throw new ChecksumError(url, sha256, actual);
  }
  await Deno.rename(part, dest);
  log(`downloaded ${url} to ${dest} (sha256 verified)`);
}

/** Runs one request from `offset` and appends the body to `part`; returns true when the file is complete. */
async function fetchInto(
  url: string,
  part: string,
  offset: number,
  connectTimeoutMs: number,
  progressBytes: number,
  log: (line: string) => void,
): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no response within ${connectTimeoutMs} ms`)),
    connectTimeoutMs,
  );
  let response: Response;
  try {
    const headers: HeadersInit = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    response = await fetch(url, { headers, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }

  // 416: the partial file already contains every byte the server has.
  if (response.status === 416 && offset > 0) {
    await response.body?.cancel();
    return true;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} ${response.statusText}`);
  }

  let start = 0;
  if (response.status === 206) {
    const range = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "");
    start = range ? Number(range[1]) : -1;
  }
  if (start !== offset) {
    if (start !== 0) {
      await response.body?.cancel();
      throw new Error(`the server sent a range starting at ${start}, expected ${offset}`);
    }
    if (offset > 0) log(`the server of ${url} ignored the range request; downloading from the start`);
  }

  const length = Number(response.headers.get("content-length") ?? NaN);
  const total = Number.isFinite(length) ? start + length : NaN;
  const file = await Deno.open(part, { write: true, create: true, append: start > 0, truncate: start === 0 });
  let received = start;
  let nextReport = received + progressBytes;
  try {
    for await (const chunk of response.body!) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
      received += chunk.length;
      if (received >= nextReport) {
        const share = Number.isFinite(total) ? ` (${Math.floor((100 * received) / total)} %)` : "";
        log(
          `downloading ${url}: ${megabytes(received)} of ${Number.isFinite(total) ? megabytes(total) : "?"} MB${share}`,
        );
        nextReport = received + progressBytes;
      }
    }
  } finally {
    file.close();
  }
  if (Number.isFinite(total) && received < total) {
    throw new Error(`the connection closed after ${received} of ${total} bytes`);
  }
  return true;
}

/** The origin of a task's data. */
export type DataSource = "data-dir" | "cache" | "download" | "synthetic";

/** Options of {@linkcode resolveTaskData}. */
export interface TaskDataOptions {
  /** The data folder; defaults to `ADASPEC_DATA_DIR`. */
  dataDir?: string;
  /** The cache folder, whose `data/` subfolder stores downloads; defaults to `ADASPEC_CACHE_DIR`, else `.cache`. */
  cacheDir?: string;
  /** A mirror base URL used in place of the canonical URLs; defaults to `ADASPEC_DATA_URL`. */
  baseUrl?: string;
  /** Set to false to skip the download step. */
  download?: boolean;
  /** Receives the lines naming the source used, and download progress; defaults to `console.error`. */
  log?: (line: string) => void;
  /** Download settings (attempts, timeouts); `log` above overrides theirs. */
  downloadOptions?: DownloadOptions;
  /** Field mapping for the files read, as in {@linkcode loadTaskSplits}. */
  fieldMap?: Record<string, string>;
  /** The seed of the synthetic stand-in (default 1). */
  syntheticSeed?: number;
}

/** A task's splits and their origin. */
export interface TaskData {
  /** The task's name. */
  task: TaskName;
  /** The origin of the data; `synthetic` means built-in generated text, not the real dataset. */
  source: DataSource;
  /** The folder read, absent for synthetic data. */
  dir?: string;
  /** The formatted examples of each split. */
  splits: Record<Split, TaskExample[]>;
  /** The description of how the splits were made, from the task registry, or a note on the synthetic data. */
  splitNote: string;
}

async function hasTaskFiles(dir: string, name: TaskName): Promise<boolean> {
  const task = getTask(name);
  for (const stem of taskFileStems(task)) {
    if (!(await findSplitFile(dir, task, stem))) return false;
  }
  return true;
}

/**
 * Finds a task's data and loads its splits: from the data folder, else the cache, else by downloading
 * into the cache, else from the synthetic stand-in. Each step that is skipped or fails is logged, and
 * the result's `source` names the step that supplied the data.
 *
 * @throws {ChecksumError} When a downloaded file does not match its checksum: a corrupt download is
 * reported, not replaced by synthetic data.
 * @throws {Error} When a file that was found contains a malformed record.
 *
 * @example
 * ```ts ignore
 * const data = await resolveTaskData("xsum", { dataDir: "DATA", download: false });
 * if (data.source === "synthetic") console.log("running on synthetic stand-in data");
 * ```
 */
export async function resolveTaskData(name: TaskName, options: TaskDataOptions = {}): Promise<TaskData> {
  const log = options.log ?? console.error;
  const task = getTask(name);
  const load = async (dir: string, source: DataSource): Promise<TaskData> => {
    const splits = await loadTaskSplits(name, dir, { fieldMap: options.fieldMap });
    log(`${task.title}: using ${source} ${dir}`);
    return { task: name, source, dir, splits, splitNote: task.splitNote };
  };

  const dataDir = options.dataDir ?? Deno.env.get(DATA_DIR_ENV);
  if (dataDir) {
    if (await hasTaskFiles(dataDir, name)) return await load(dataDir, "data-dir");
    log(`${task.title}: no ${task.folder}/ files in the data folder ${dataDir}; trying the cache`);
  }

  const cacheData = `${options.cacheDir ?? Deno.env.get(CACHE_DIR_ENV) ?? ".cache"}/data`;
  if (await hasTaskFiles(cacheData, name)) return await load(cacheData, "cache");

  const baseUrl = options.baseUrl ?? Deno.env.get(DATA_URL_ENV);
  if (options.download === false) {
    log(`${task.title}: not in the cache ${cacheData}, and downloads are off`);
  } else {
    const entries = DOWNLOADS[name];
    const urls = entries.map((entry) => baseUrl ? `${baseUrl.replace(/\/+$/, "")}/${entry.path}` : entry.url);
    if (urls.some((url) => url === undefined)) {
      log(`${task.title}: no canonical download URL; set ${DATA_URL_ENV} to a mirror of the data-folder layout`);
    } else {
      try {
        for (let i = 0; i < entries.length; i++) {
          const dest = `${cacheData}/${entries[i].path}`;
          if (await fileSize(dest) > 0) continue;
          await downloadFile(urls[i]!, dest, entries[i].sha256, { ...options.downloadOptions, log });
        }
        return await load(cacheData, "download");
      } catch (error) {
        if (error instanceof ChecksumError) throw error;
        log(`${task.title}: download failed: ${(error as Error).message}`);
      }
    }
  }

  log(
    `${task.title}: no real data found; using the built-in synthetic stand-in, ` +
      `so results show only that the pipeline runs`,
  );
  return {
    task: name,
    source: "synthetic",
    splits: loadSyntheticSplits(name, options.syntheticSeed ?? 1),
    splitNote: `synthetic stand-in generated with seed ${options.syntheticSeed ?? 1}; ${task.splitNote}`,
  };
}
