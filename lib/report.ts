/**
 * Report output: Markdown and CSV tables built with Arquero, and histogram
 * SVGs drawn with Observable Plot outside a browser, using linkedom as the
 * DOM.
 *
 * @module
 */

// The npm specifiers are inline and pinned, because programs that import this
// module by URL have no import map.
// deno-lint-ignore-file no-import-prefix

// Arquero 8.0.3 depends on "@uwdata/flechette": "^2.0.0". Without a lockfile
// or import map, Deno picks the newest 2.x, and 2.7.0 depends on
// "@uwdata/wk-geojson", which the npm registry this project uses does not
// serve. Requesting 2.6.0 in the same module graph makes Deno's npm resolver
// reuse it for Arquero (checked with Deno 2.9.6 and `deno info`).
import "npm:@uwdata/flechette@2.6.0";
import * as aq from "npm:arquero@8.0.3";
import * as Plot from "npm:@observablehq/plot@0.6.17";
import { parseHTML } from "npm:linkedom@0.18.12";

/** One table row: column name to cell value. */
export type Row = Record<string, string | number | boolean | null>;

/** Options for {@linkcode toMarkdown}. */
export interface MarkdownOptions {
  /** Columns to show, in order. Defaults to the keys of the first row. */
  columns?: string[];
  /** Decimal places for numbers that are not integers. Defaults to 2. */
  digits?: number;
}

/** Options for {@linkcode toCsv}. */
export interface CsvOptions {
  /** Columns to write, in order. Defaults to the keys of the first row. */
  columns?: string[];
}

/** Options for {@linkcode histogramSvg} and {@linkcode overlaidHistogramSvg}. */
export interface HistogramOptions {
  /** Label of the x axis. */
  x: string;
  /** Title drawn above the plot. */
  title?: string;
  /** Number of equal-width bins across the domain. Defaults to 20. */
  bins?: number;
  /**
   * Range `[min, max]` that the bins cover. Defaults to the extent of the
   * values. Values outside it are not counted, and `max` itself goes into the
   * last bin.
   */
  domain?: [number, number];
  /** Width in pixels. Defaults to 640. */
  width?: number;
  /** Height in pixels. Defaults to 400. */
  height?: number;
}

/** One group of values in {@linkcode overlaidHistogramSvg}. */
export interface HistogramSeries {
  /** Legend label, unique within the plot. */
  name: string;
  /** Values to bin. */
  values: number[];
}

const SVG_NAMESPACE = "http://www.w3.org/2000/svg";
const DEFAULT_BINS = 20;
const DEFAULT_WIDTH = 640;
const DEFAULT_HEIGHT = 400;
const TITLE_HEIGHT = 24;
const LEGEND_HEIGHT = 22;
const OVERLAY_OPACITY = 0.5;

/**
 * Formats `rows` as a GitHub Markdown table, built from an Arquero table.
 *
 * Integers are written without decimals and other numbers with
 * `options.digits` decimals. `null` and missing cells become "—". A `|` in a
 * cell is escaped as `\|` and a line break becomes `<br>`. Columns whose
 * non-null cells are all numbers are right-aligned.
 *
 * @throws {Error} When `rows` is empty and `options.columns` is not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toMarkdown } from "./report.ts";
 *
 * const table = toMarkdown([
 *   { method: "AdaSPEC", acceptance: 0.8312, tokens: 128 },
 *   { method: "DistillSpec", acceptance: 0.79, tokens: 64 },
 * ]);
 * assert.equal(
 *   table,
 *   "| method | acceptance | tokens |\n" +
 *     "| --- | ---: | ---: |\n" +
 *     "| AdaSPEC | 0.83 | 128 |\n" +
 *     "| DistillSpec | 0.79 | 64 |\n",
 * );
 * ```
 */
export function toMarkdown(rows: Row[], options: MarkdownOptions = {}): string {
  const digits = options.digits ?? 2;
  if (!Number.isInteger(digits) || digits < 0 || digits > 100) {
    throw new RangeError(
      `toMarkdown: digits must be an integer from 0 to 100, got ${digits}.`,
    );
  }
  const columns = resolveColumns(rows, options.columns, "toMarkdown");
  const table = aq.from(rows, columns);

  const columnValues = columns.map((column) => Array.from(table.array(column) as ArrayLike<unknown>));
  const cells = columnValues.map((values) => values.map((value) => formatMarkdownCell(value, digits)));
  const alignments = columnValues.map((values) => isNumericColumn(values) ? "---:" : "---");

  const lines = [
    markdownLine(columns.map(escapeMarkdownCell)),
    markdownLine(alignments),
  ];
  for (let rowIndex = 0; rowIndex < table.numRows(); rowIndex++) {
    lines.push(markdownLine(cells.map((column) => column[rowIndex])));
  }
  return lines.join("\n") + "\n";
}

/**
 * Formats `rows` as CSV with Arquero's `toCSV`.
 *
 * Fields that contain a comma, a double quote, a carriage return or a line
 * feed are quoted, and quotes inside them are doubled, as RFC 4180 requires.
 * Records end in `\n`, not the CRLF of RFC 4180. Numbers are written at full
 * precision (`String(value)`), and `null` becomes an empty field.
 *
 * @throws {Error} When `rows` is empty and `options.columns` is not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toCsv } from "./report.ts";
 *
 * assert.equal(toCsv([{ name: "a,b", score: 0.125 }]), 'name,score\n"a,b",0.125\n');
 * ```
 */
export function toCsv(rows: Row[], options: CsvOptions = {}): string {
  const columns = resolveColumns(rows, options.columns, "toCsv");
  return aq.from(rows, columns).toCSV({ columns });
}

/** Options for {@linkcode toLatex}. */
export interface LatexOptions {
  /** Columns to show, in order. Defaults to the keys of the first row. */
  columns?: string[];
  /** Header text of each column; the column name where missing. */
  headers?: Record<string, string>;
  /** Caption of the table environment; none by default. */
  caption?: string;
  /** Label of the table environment, for `\ref`; none by default. */
  label?: string;
}

const LATEX_SPECIALS: Record<string, string> = {
  "\\": "\\textbackslash{}",
  "&": "\\&",
  "%": "\\%",
  $: "\\$",
  "#": "\\#",
  _: "\\_",
  "{": "\\{",
  "}": "\\}",
  "~": "\\textasciitilde{}",
  "^": "\\textasciicircum{}",
};

/** Escapes the characters that LaTeX treats specially in running text. */
export function escapeLatex(text: string): string {
  return text.replace(/[\\&%$#_{}~^]/g, (c) => LATEX_SPECIALS[c]);
}

/**
 * Formats `rows` as a LaTeX `table` with a `tabular` (booktabs rules: `\toprule`, `\midrule`,
 * `\bottomrule`). Cells are written as given (format numbers first) and escaped; numeric columns
 * are right-aligned, `null` becomes an empty cell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toLatex } from "./report.ts";
 *
 * const tex = toLatex([{ task: "GSM8K", gain: "+1.5 %" }], { headers: { gain: "Δα" } });
 * assert.ok(tex.includes("\\begin{tabular}{ll}"));
 * assert.ok(tex.includes("task & Δα \\\\"));
 * assert.ok(tex.includes("GSM8K & +1.5 \\% \\\\"));
 * ```
 */
export function toLatex(rows: Row[], options: LatexOptions = {}): string {
  const columns = resolveColumns(rows, options.columns, "toLatex");
  const cell = (value: Row[string]) => value === null || value === undefined ? "" : escapeLatex(String(value));
  const align = columns.map((c) => rows.length > 0 && rows.every((r) => typeof r[c] === "number") ? "r" : "l");
  const lines = ["\\begin{table}[t]", "\\centering"];
  if (options.caption) lines.push(`\\caption{${escapeLatex(options.caption)}}`);
  if (options.label) lines.push(`\\label{${options.label}}`);
  lines.push(
    `\\begin{tabular}{${align.join("")}}`,
    "\\toprule",
    columns.map((c) => escapeLatex(options.headers?.[c] ?? c)).join(" & ") + " \\\\",
    "\\midrule",
    ...rows.map((r) => columns.map((c) => cell(r[c])).join(" & ") + " \\\\"),
    "\\bottomrule",
    "\\end{tabular}",
    "\\end{table}",
  );
  return lines.join("\n") + "\n";
}

/**
 * Renders a histogram of `values` as a standalone SVG document string, using
 * Observable Plot's `rectY` mark with the `binX` transform.
 *
 * The bins are `options.bins` equal-width intervals over `options.domain`.
 * When the domain is omitted it is the extent of the values, widened by 0.5
 * on each side when all values are equal.
 *
 * @throws {Error} When `values` is empty, or contains NaN or an infinity.
 * @throws {RangeError} When `bins`, `domain`, `width` or `height` is invalid.
 *
 * @example
 * ```ts ignore
 * const svg = histogramSvg([0.2, 0.4, 0.45, 0.9], {
 *   x: "Acceptance rate",
 *   domain: [0, 1],
 *   bins: 10,
 * });
 * await writeTextAtomic("out/acceptance.svg", svg);
 * ```
 */
export function histogramSvg(
  values: number[],
  options: HistogramOptions,
): string {
  checkValues(values, "histogramSvg", "values");
  const layout = histogramLayout([values], options, "histogramSvg");

  const svg = plotHistogram(layout, [
    Plot.rectY(
      values,
      Plot.binX<Plot.RectYOptions>({ y: "count" }, {
        x: (value: number) => value,
        thresholds: layout.thresholds,
        insetLeft: 0.5,
        insetRight: 0.5,
      }),
    ),
  ], 0);
  return finishSvg(svg, options.title, layout.width);
}

/**
 * Renders histograms of two or more groups in one standalone SVG document
 * string, for example "DistillSpec" against "AdaSPEC".
 *
 * All groups share the same bins. Each group is drawn with its own fill
 * colour at 50% opacity so overlaps stay visible, and a legend above the
 * plot names the groups. Bins and domain follow {@linkcode histogramSvg},
 * with the default domain taken over all values.
 *
 * @throws {Error} When fewer than two series are given, when names repeat or
 * are empty, or when a series' values are empty or not finite.
 *
 * @example
 * ```ts ignore
 * const svg = overlaidHistogramSvg([
 *   { name: "DistillSpec", values: distillSpecRates },
 *   { name: "AdaSPEC", values: adaSpecRates },
 * ], { x: "Acceptance rate", domain: [0, 1] });
 * ```
 */
export function overlaidHistogramSvg(
  series: HistogramSeries[],
  options: HistogramOptions,
): string {
  const caller = "overlaidHistogramSvg";
  if (series.length < 2) {
    throw new Error(
      `${caller}: got ${series.length} series, but it needs at least two. ` +
        "Use histogramSvg for a single group of values.",
    );
  }
  const names = new Set<string>();
  for (const { name, values } of series) {
    if (name === "") {
      throw new Error(
        `${caller}: a series has an empty name. Give each series a legend label.`,
      );
    }
    if (names.has(name)) {
      throw new Error(
        `${caller}: series name "${name}" appears twice, but names must be unique.`,
      );
    }
    names.add(name);
    checkValues(values, caller, `values of series "${name}"`);
  }

  const layout = histogramLayout(
    series.map((group) => group.values),
    options,
    caller,
  );
  const colorScale = Plot.scale({
    color: { type: "categorical", domain: [...names] },
  });
  const colors = series.map((group) => String(colorScale.apply(group.name)));

  const marks = series.map((group, index) =>
    Plot.rectY(
      group.values,
      Plot.binX<Plot.RectYOptions>({ y: "count" }, {
        x: (value: number) => value,
        thresholds: layout.thresholds,
        fill: colors[index],
        fillOpacity: OVERLAY_OPACITY,
        insetLeft: 0.5,
        insetRight: 0.5,
        ariaDescription: group.name,
      }),
    )
  );

  const svg = plotHistogram(layout, marks, LEGEND_HEIGHT);
  const legendTop = (options.title === undefined ? 0 : TITLE_HEIGHT) + 4;
  appendLegend(svg, series.map((group) => group.name), colors, legendTop);
  return finishSvg(svg, options.title, layout.width);
}

// ---------------------------------------------------------------------------
// Table helpers

function resolveColumns(
  rows: Row[],
  columns: string[] | undefined,
  caller: string,
): string[] {
  if (columns !== undefined) return columns;
  if (rows.length === 0) {
    throw new Error(
      `${caller}: rows is empty, so there are no columns to infer. ` +
        "Pass options.columns to write a header-only table.",
    );
  }
  return Object.keys(rows[0]);
}

function formatMarkdownCell(value: unknown, digits: number): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  }
  return escapeMarkdownCell(String(value));
}

function escapeMarkdownCell(text: string): string {
  return text.replaceAll("|", "\\|").replace(/\r\n|\r|\n/g, "<br>");
}

function isNumericColumn(values: unknown[]): boolean {
  const present = values.filter((value) => value !== null && value !== undefined);
  return present.length > 0 &&
    present.every((value) => typeof value === "number");
}

function markdownLine(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

// ---------------------------------------------------------------------------
// Histogram helpers

interface HistogramLayout {
  domain: [number, number];
  thresholds: number[];
  width: number;
  height: number;
  x: string;
  titled: boolean;
}

function checkValues(
  values: number[],
  caller: string,
  valuesName: string,
): void {
  if (values.length === 0) {
    throw new Error(
      `${caller}: ${valuesName} is empty, so there is nothing to plot. ` +
        "Pass at least one number, or skip the plot for this run.",
    );
  }
  const index = values.findIndex((value) => !Number.isFinite(value));
  if (index !== -1) {
    throw new Error(
      `${caller}: ${valuesName}[${index}] is ${values[index]}, but ` +
        "every value must be a finite number. Filter out NaN and infinities first.",
    );
  }
}

function histogramLayout(
  groups: number[][],
  options: HistogramOptions,
  caller: string,
): HistogramLayout {
  const bins = options.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(
      `${caller}: bins must be a positive integer, got ${bins}.`,
    );
  }
  const width = options.width ?? DEFAULT_WIDTH;
  const height = options.height ?? DEFAULT_HEIGHT;
  for (const [name, size] of [["width", width], ["height", height]] as const) {
    if (!Number.isFinite(size) || size <= 0) {
      throw new RangeError(
        `${caller}: ${name} must be a positive number of pixels, got ${size}.`,
      );
    }
  }

  const domain = options.domain ?? extentOf(groups);
  const [min, max] = domain;
  if (!Number.isFinite(min) || !Number.isFinite(max) || min >= max) {
    throw new RangeError(
      `${caller}: domain must be two finite numbers with min < max, got [${min}, ${max}].`,
    );
  }

  // Plot 0.6.17 bins are half-open, [t[i], t[i + 1]), so a value equal to the
  // last threshold would be dropped. Nudging the last threshold just above
  // max keeps max in the last bin, and the x scale is clipped to the domain.
  const step = (max - min) / bins;
  const thresholds = Array.from({ length: bins }, (_, i) => min + i * step);
  thresholds.push(max + step * 1e-9);

  return {
    domain: [min, max],
    thresholds,
    width,
    height,
    x: options.x,
    titled: options.title !== undefined,
  };
}

function extentOf(groups: number[][]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const values of groups) {
    for (const value of values) {
      if (value < min) min = value;
      if (value > max) max = value;
    }
  }
  return min === max ? [min - 0.5, max + 0.5] : [min, max];
}

// The few DOM members used here, typed locally: linkedom's own types need the DOM lib, which a
// program importing this module with Deno's default configuration does not load.
interface SvgNode {
  setAttribute(name: string, value: string): void;
  append(...nodes: SvgNode[]): void;
  textContent: string | null;
}
interface SvgElement extends SvgNode {
  ownerDocument: { createElementNS(namespace: string, name: string): SvgNode };
  outerHTML: string;
}

function plotHistogram(
  layout: HistogramLayout,
  marks: Plot.Markish[],
  legendHeight: number,
): SvgElement {
  const { document } = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as { document: unknown };
  const marginTop = 30 + legendHeight + (layout.titled ? TITLE_HEIGHT : 0);

  const plot = Plot.plot({
    document: document as unknown as Plot.PlotOptions["document"],
    width: layout.width,
    height: layout.height,
    marginTop,
    marginLeft: 60,
    marginBottom: 40,
    style: { background: "white" },
    x: {
      domain: layout.domain,
      label: layout.x,
      labelAnchor: "center",
      clamp: true,
    },
    y: { label: "Count", labelAnchor: "center", grid: true },
    marks: [...marks, Plot.ruleY([0])],
  });
  return plot as unknown as SvgElement;
}

function appendLegend(
  svg: SvgElement,
  names: string[],
  colors: string[],
  top: number,
): void {
  const document = svg.ownerDocument;
  const legend = document.createElementNS(SVG_NAMESPACE, "g");
  legend.setAttribute("aria-label", "legend");
  legend.setAttribute("text-anchor", "start");
  legend.setAttribute("font-size", "12");

  // NOTE: the swatch spacing estimates text width at 7 px per character,
  // because there is no font measurement outside a browser.
  let x = 60;
  for (const [index, name] of names.entries()) {
    const swatch = document.createElementNS(SVG_NAMESPACE, "rect");
    swatch.setAttribute("x", String(x));
    swatch.setAttribute("y", String(top + 2));
    swatch.setAttribute("width", "14");
    swatch.setAttribute("height", "14");
    swatch.setAttribute("fill", colors[index]);
    swatch.setAttribute("fill-opacity", String(OVERLAY_OPACITY));
    swatch.setAttribute("stroke", colors[index]);

    const label = document.createElementNS(SVG_NAMESPACE, "text");
    label.setAttribute("x", String(x + 20));
    label.setAttribute("y", String(top + 13));
    label.textContent = name;

    legend.append(swatch, label);
    x += 20 + 7 * name.length + 24;
  }
  svg.append(legend);
}

function finishSvg(
  svg: SvgElement,
  title: string | undefined,
  width: number,
): string {
  svg.setAttribute("xmlns", SVG_NAMESPACE);
  if (title !== undefined) {
    const document = svg.ownerDocument;
    const text = document.createElementNS(SVG_NAMESPACE, "text");
    text.setAttribute("x", String(width / 2));
    text.setAttribute("y", "18");
    text.setAttribute("font-size", "15");
    text.setAttribute("font-weight", "bold");
    text.setAttribute("text-anchor", "middle");
    text.textContent = title;
    svg.append(text);
  }
  return svg.outerHTML + "\n";
}
