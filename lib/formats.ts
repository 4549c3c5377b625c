/**
 * Record readers for the task data files: JSON Lines, a JSON array, CSV (RFC 4180, header row) and
 * parquet. Each reader checks every record against a list of typed fields, renames fields through an
 * optional mapping, and rejects a malformed record with the file, the line (or row) and the field.
 *
 * @module
 */
import { parquetReadObjects } from "npm:hyparquet@1.33.0";

/** A data file format, named by its usual file extension. */
export type FileFormat = "jsonl" | "json" | "csv" | "parquet";

/** The formats in the order a loader looks for them when a split file has no extension. */
export const FILE_FORMATS: readonly FileFormat[] = ["jsonl", "json", "csv", "parquet"];

/** The type of one record field: text, an integer, or a list of texts. */
export type FieldType = "string" | "integer" | "string[]";

/** One field that every record must (or, with `optional`, may) contain. */
export interface FieldSpec {
  /** The field's name in the returned records. */
  name: string;
  /** The value's type; a CSV cell is converted to it (a `string[]` cell contains a JSON array). */
  type: FieldType;
  /** When true, a missing field is left out of the record instead of being rejected. */
  optional?: boolean;
}

/** A record after checking: field name to value. */
export type DataRecord = Record<string, string | number | string[]>;

/** Options of {@linkcode readRecords}. */
export interface ReadOptions {
  /** The format; by default it is taken from the file's extension. */
  format?: FileFormat;
  /**
   * Field mapping: for a field name of the returned records, the name it has in the file (for example
   * `{ question: "Problem" }` reads the column `Problem` as `question`). Unmapped fields keep their name.
   */
  fieldMap?: Record<string, string>;
}

/** Returns the format that a file extension names, or `undefined` for an unknown extension. */
export function formatFromPath(path: string): FileFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  if (lower.endsWith(".json")) return "json";
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".parquet")) return "parquet";
  return undefined;
}

/**
 * Reads every record of a data file and checks it against `fields`. The records keep the file's order
 * and contain only the fields of `fields`, under their spec names.
 *
 * @throws {Error} When the file is missing, the format is unknown, or a record is malformed. The message
 * starts with `path:line` (JSON Lines, CSV), `path: element N` (JSON array) or `path: row N` (parquet),
 * and names the field.
 *
 * @example
 * ```ts ignore
 * const records = await readRecords("data/gsm8k/train.csv", [
 *   { name: "question", type: "string" },
 *   { name: "answer", type: "string" },
 * ]);
 * ```
 */
export async function readRecords(path: string, fields: FieldSpec[], options: ReadOptions = {}): Promise<DataRecord[]> {
  const format = options.format ?? formatFromPath(path);
  if (!format) {
    throw new Error(`${path}: unknown data format; use a .jsonl, .json, .csv or .parquet file or pass a format`);
  }
  const map = options.fieldMap ?? {};
  const raw = await readRawRecords(path, format);
  const records = raw.map(({ value, where }) => checkRecord(value, fields, map, `${path}${where}`));
  if (records.length === 0) throw new Error(`${path}: no records; the split is empty`);
  return records;
}

/** One record as parsed, before checking, with its location suffix for messages (`:12`, `: row 3`). */
interface RawRecord {
  value: unknown;
  where: string;
}

async function readRawRecords(path: string, format: FileFormat): Promise<RawRecord[]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`data file not found: ${path}`, { cause: error });
    throw error;
  }
  if (format === "parquet") return await parseParquet(path, bytes);
  const text = new TextDecoder().decode(bytes);
  if (format === "jsonl") return parseJsonLines(path, text);
  if (format === "json") return parseJsonArray(path, text);
  return csvToRecords(path, parseCsv(path, text));
}

function parseJsonLines(path: string, text: string): RawRecord[] {
  const records: RawRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    try {
      records.push({ value: JSON.parse(line), where: `:${i + 1}` });
    } catch (error) {
      throw new Error(`${path}:${i + 1}: invalid JSON (${(error as Error).message}); fix or remove the line`);
    }
  }
  return records;
}

function parseJsonArray(path: string, text: string): RawRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: invalid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${path}: expected a JSON array of records`);
  return parsed.map((value, i) => ({ value, where: `: element ${i}` }));
}

async function parseParquet(path: string, bytes: Uint8Array): Promise<RawRecord[]> {
  // hyparquet reads from an ArrayBuffer; copy so the view's offset cannot matter.
  const buffer = bytes.slice().buffer;
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: buffer });
  } catch (error) {
    throw new Error(`${path}: invalid parquet file (${(error as Error).message})`, { cause: error });
  }
  return rows.map((value, i) => ({ value, where: `: row ${i + 1}` }));
}

/** One CSV row: its cells and the 1-based line on which it starts. */
export interface CsvRow {
  cells: string[];
  line: number;
}

/**
 * Parses CSV text as RFC 4180 describes it: comma-separated cells, cells in double quotes may contain
 * commas, line breaks and `""` for a quote, and rows end in CRLF or LF. A final empty line is ignored.
 *
 * @throws {Error} `path:line: ...` for a quote that is never closed or text after a closing quote.
 *
 * @example
 * ```ts
 * import { parseCsv } from "./formats.ts";
 * const rows = parseCsv("x.csv", 'a,b\n"1,2","say ""hi"""\n');
 * if (rows[1].cells[1] !== 'say "hi"' || rows[1].line !== 2) throw new Error("parse failed");
 * ```
 */
export function parseCsv(path: string, text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let cells: string[] = [];
  let cell = "";
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let rowHasContent = false;
  const endRow = () => {
    cells.push(cell);
    rows.push({ cells, line: rowLine });
    cells = [];
    cell = "";
    rowHasContent = false;
  };
  while (i < text.length) {
    const char = text[i];
    if (char === '"' && cell === "") {
      // A quoted cell: read to the closing quote, turning "" into ".
      const quoteLine = line;
      i++;
      let closed = false;
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        if (text[i] === "\n") line++;
        cell += text[i];
        i++;
      }
      if (!closed) throw new Error(`${path}:${quoteLine}: quoted cell is never closed; add the closing quote`);
      rowHasContent = true;
      const next = text[i];
      if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
        throw new Error(`${path}:${line}: unexpected text after a closing quote; quote the whole cell`);
      }
      continue;
    }
    if (char === ",") {
      cells.push(cell);
      cell = "";
      rowHasContent = true;
      i++;
    } else if (char === "\r" && text[i + 1] === "\n") {
      i++;
    } else if (char === "\n") {
      endRow();
      line++;
      rowLine = line;
      i++;
    } else {
      cell += char;
      rowHasContent = true;
      i++;
    }
  }
  if (rowHasContent || cell !== "") endRow();
  return rows;
}

function csvToRecords(path: string, rows: CsvRow[]): RawRecord[] {
  if (rows.length === 0) throw new Error(`${path}: empty CSV file; the first row must name the columns`);
  const header = rows[0].cells;
  const records: RawRecord[] = [];
  for (const row of rows.slice(1)) {
    if (row.cells.length === 1 && row.cells[0] === "") continue;
    if (row.cells.length !== header.length) {
      throw new Error(
        `${path}:${row.line}: row has ${row.cells.length} cells but the header has ${header.length}; quote cells that contain commas`,
      );
    }
    const value: Record<string, string> = {};
    header.forEach((name, column) => value[name] = row.cells[column]);
    records.push({ value, where: `:${row.line}` });
  }
  return records;
}

function checkRecord(value: unknown, fields: FieldSpec[], map: Record<string, string>, where: string): DataRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${where}: expected an object with fields ${fields.map((f) => f.name).join(", ")}`);
  }
  const source = value as Record<string, unknown>;
  const record: DataRecord = {};
  for (const field of fields) {
    const key = map[field.name] ?? field.name;
    const named = key === field.name ? `"${key}"` : `"${key}" (read as ${field.name})`;
    const raw = source[key];
    if (raw === undefined || raw === null) {
      if (field.optional) continue;
      throw new Error(`${where}: field ${named} is missing`);
    }
    const converted = convertField(raw, field.type);
    if (converted === undefined) {
      throw new Error(`${where}: field ${named} is not ${describeType(field.type)} (found ${describeValue(raw)})`);
    }
    record[field.name] = converted;
  }
  return record;
}

function convertField(raw: unknown, type: FieldType): string | number | string[] | undefined {
  if (type === "string") return typeof raw === "string" ? raw : undefined;
  if (type === "integer") {
    if (typeof raw === "bigint") return Number(raw);
    if (typeof raw === "number") return Number.isInteger(raw) ? raw : undefined;
    if (typeof raw === "string" && /^-?\d+$/.test(raw.trim())) return Number(raw.trim());
    return undefined;
  }
  let list = raw;
  if (typeof raw === "string") {
    // A CSV cell stores a list as a JSON array.
    try {
      list = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(list) || !list.every((item) => typeof item === "string")) return undefined;
  return list as string[];
}

function describeType(type: FieldType): string {
  if (type === "string") return "a string";
  if (type === "integer") return "an integer";
  return "a list of strings";
}

function describeValue(raw: unknown): string {
  if (Array.isArray(raw)) return "an array";
  return typeof raw === "string" ? `the string ${JSON.stringify(raw.slice(0, 40))}` : `a ${typeof raw}`;
}
