// Tests for lib/report.ts and lib/fs.ts.
//
// Run: deno test --allow-read --allow-write --allow-env tests/report_test.ts
//
// The SVG snapshot at tests/snapshots/histogram.svg changes whenever Plot's
// output does, for example after a Plot upgrade. Check the new plot by eye,
// then regenerate the snapshot with:
//   UPDATE_SNAPSHOTS=1 deno test --allow-read --allow-write --allow-env tests/report_test.ts

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DOMParser } from "linkedom";

import { histogramSvg, overlaidHistogramSvg, type Row, toCsv, toMarkdown } from "../lib/report.ts";
import { readJsonFile, writeBytesAtomic, writeJsonLines, writeTextAtomic } from "../lib/fs.ts";

const SNAPSHOT_PATH = new URL("./snapshots/histogram.svg", import.meta.url);

function parseSvg(svg: string) {
  return new DOMParser().parseFromString(svg, "image/svg+xml");
}

function barHeights(svg: string, selector = "rect"): number[] {
  const document = parseSvg(svg);
  return [...document.querySelectorAll(selector)]
    .map((rect) => Number(rect.getAttribute("height")))
    .filter((height) => height > 0);
}

async function listDirectory(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

// ---------------------------------------------------------------------------
// toMarkdown

Deno.test("toMarkdown formats a 2x3 table", () => {
  const rows: Row[] = [
    { model: "DistillSpec", acceptance: 0.7182, steps: 1000 },
    { model: "AdaSPEC", acceptance: 0.8, steps: 250 },
  ];

  const expected = "| model | acceptance | steps |\n" +
    "| --- | ---: | ---: |\n" +
    "| DistillSpec | 0.72 | 1000 |\n" +
    "| AdaSPEC | 0.80 | 250 |\n";
  assert.equal(toMarkdown(rows), expected);
});

Deno.test("toMarkdown escapes pipes and writes null as dash", () => {
  const rows: Row[] = [
    { name: "a|b", note: null, ok: true },
    { name: "two\nlines", note: "x", ok: false },
  ];

  const expected = "| name | note | ok |\n" +
    "| --- | --- | --- |\n" +
    "| a\\|b | — | true |\n" +
    "| two<br>lines | x | false |\n";
  assert.equal(toMarkdown(rows), expected);
});

Deno.test("toMarkdown uses columns and digits options", () => {
  const rows: Row[] = [{ a: 1.23456, b: "x", c: -3 }];

  const expected = "| c | a |\n" +
    "| ---: | ---: |\n" +
    "| -3 | 1.235 |\n";
  assert.equal(toMarkdown(rows, { columns: ["c", "a"], digits: 3 }), expected);
});

Deno.test("toMarkdown writes missing columns as dash", () => {
  const rows: Row[] = [{ a: 1 }, { a: 2, b: "late" }];

  const expected = "| a | b |\n" +
    "| ---: | --- |\n" +
    "| 1 | — |\n" +
    "| 2 | late |\n";
  assert.equal(toMarkdown(rows, { columns: ["a", "b"] }), expected);
});

Deno.test("toMarkdown empty rows", () => {
  assert.equal(
    toMarkdown([], { columns: ["a", "b"] }),
    "| a | b |\n| --- | --- |\n",
  );
  assert.throws(() => toMarkdown([]), /options\.columns/);
});

// ---------------------------------------------------------------------------
// toCsv

Deno.test("toCsv quotes commas, quotes and newlines", () => {
  const rows: Row[] = [
    { text: "a,b", score: 1 },
    { text: 'say "hi"', score: 0.1 + 0.2 },
    { text: "line1\nline2", score: null },
    { text: "plain", score: -2.5 },
  ];

  const expected = "text,score\n" +
    '"a,b",1\n' +
    '"say ""hi""",0.30000000000000004\n' +
    '"line1\nline2",\n' +
    "plain,-2.5\n";
  assert.equal(toCsv(rows), expected);
});

Deno.test("toCsv quotes header names and follows columns", () => {
  const rows: Row[] = [{ "x,y": 1, z: true }];

  assert.equal(toCsv(rows), '"x,y",z\n1,true\n');
  assert.equal(toCsv(rows, { columns: ["z"] }), "z\ntrue\n");
});

// ---------------------------------------------------------------------------
// histogramSvg

Deno.test("histogramSvg root is svg with xmlns", () => {
  const svg = histogramSvg([1, 2, 3], { x: "Value" });
  const root = parseSvg(svg).documentElement;

  assert.equal(root.tagName.toLowerCase(), "svg");
  assert.equal(root.getAttribute("xmlns"), "http://www.w3.org/2000/svg");
});

Deno.test("histogramSvg draws one bar per non-empty bin", () => {
  // Counts by hand over 4 bins: [0, .25) has 0 and 0.1, [.25, .5) has 0.3,
  // [.5, .75) is empty, and [.75, 1] has 0.75, 0.99 and 1.
  const values = [0, 0.1, 0.3, 0.75, 0.99, 1];
  const svg = histogramSvg(values, { x: "Rate", domain: [0, 1], bins: 4 });

  const heights = barHeights(svg);
  assert.equal(heights.length, 3);
  assert.ok(Math.abs(heights[0] / heights[1] - 2) < 1e-9, `heights ${heights}`);
  assert.ok(Math.abs(heights[2] / heights[1] - 3) < 1e-9, `heights ${heights}`);
});

Deno.test("histogramSvg leaves out values outside domain", () => {
  const svg = histogramSvg([-1, 0.5, 2], {
    x: "Rate",
    domain: [0, 1],
    bins: 2,
  });

  assert.equal(barHeights(svg).length, 1);
});

Deno.test("histogramSvg shows title and axis label", () => {
  const svg = histogramSvg([1, 2, 2, 3], {
    x: "Tokens & steps",
    title: "Accepted <tokens>",
  });
  const texts = [...parseSvg(svg).querySelectorAll("text")]
    .map((text) => text.textContent ?? "");

  assert.ok(texts.includes("Accepted <tokens>"), texts.join(" / "));
  assert.ok(texts.some((text) => text.startsWith("Tokens & steps")));
});

Deno.test("histogramSvg accepts equal values", () => {
  const heights = barHeights(histogramSvg([5, 5, 5], { x: "Value", bins: 3 }));

  assert.equal(heights.length, 1);
});

Deno.test("histogramSvg rejects empty and non-finite values", () => {
  assert.throws(() => histogramSvg([], { x: "Value" }), /values is empty/);
  assert.throws(
    () => histogramSvg([1, NaN], { x: "Value" }),
    /values\[1\] is NaN/,
  );
  assert.throws(
    () => histogramSvg([Infinity], { x: "Value" }),
    /finite number/,
  );
});

Deno.test("histogramSvg rejects invalid bins and domain", () => {
  assert.throws(() => histogramSvg([1], { x: "Value", bins: 0 }), RangeError);
  assert.throws(
    () => histogramSvg([1], { x: "Value", domain: [1, 1] }),
    /min < max/,
  );
});

Deno.test("histogramSvg matches snapshot", async () => {
  const svg = histogramSvg([0.1, 0.2, 0.25, 0.4, 0.45, 0.5, 0.55, 0.9], {
    x: "Acceptance rate",
    title: "Snapshot",
    domain: [0, 1],
    bins: 5,
    width: 320,
    height: 200,
  });

  if (Deno.env.get("UPDATE_SNAPSHOTS") === "1") {
    await writeTextAtomic(fileURLToPath(SNAPSHOT_PATH), svg);
  }
  const expected = await Deno.readTextFile(SNAPSHOT_PATH);
  assert.equal(svg, expected);
});

// ---------------------------------------------------------------------------
// overlaidHistogramSvg

Deno.test("overlaidHistogramSvg draws both series and legend", () => {
  const svg = overlaidHistogramSvg([
    { name: "DistillSpec", values: [0.1, 0.2, 0.6] },
    { name: "AdaSPEC", values: [0.6, 0.7, 0.8, 0.9] },
  ], { x: "Acceptance rate", domain: [0, 1], bins: 10 });
  const document = parseSvg(svg);

  const legend = document.querySelector('g[aria-label="legend"]');
  assert.ok(legend, "legend group missing");
  const names = [...legend.querySelectorAll("text")]
    .map((text) => text.textContent);
  assert.deepEqual(names, ["DistillSpec", "AdaSPEC"]);

  assert.equal(
    barHeights(svg, 'g[aria-description="DistillSpec"] rect').length,
    3,
  );
  assert.equal(barHeights(svg, 'g[aria-description="AdaSPEC"] rect').length, 4);

  const fills = [...document.querySelectorAll('g[aria-label="rect"]')]
    .map((group) => group.getAttribute("fill"));
  assert.equal(new Set(fills).size, 2);
});

Deno.test("overlaidHistogramSvg rejects bad series", () => {
  const options = { x: "Value" };

  assert.throws(
    () => overlaidHistogramSvg([{ name: "A", values: [1] }], options),
    /at least two/,
  );
  assert.throws(
    () =>
      overlaidHistogramSvg([
        { name: "A", values: [1] },
        { name: "A", values: [2] },
      ], options),
    /"A" appears twice/,
  );
  assert.throws(
    () =>
      overlaidHistogramSvg([
        { name: "A", values: [1] },
        { name: "B", values: [] },
      ], options),
    /values of series "B" is empty/,
  );
});

// ---------------------------------------------------------------------------
// fs

Deno.test("writeTextAtomic creates dirs, leaves no temp", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/a/b/out.txt`;
    await writeTextAtomic(path, "first");
    await writeTextAtomic(path, "second");

    assert.equal(await Deno.readTextFile(path), "second");
    assert.deepEqual(await listDirectory(`${root}/a/b`), ["out.txt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeBytesAtomic writes bytes", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/nested/data.bin`;
    await writeBytesAtomic(path, new Uint8Array([0, 1, 255]));

    assert.deepEqual(await Deno.readFile(path), new Uint8Array([0, 1, 255]));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeJsonLines writes one record per line", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/out/records.jsonl`;
    await writeJsonLines(path, [{ id: 1, text: "a\nb" }, { id: 2 }]);

    assert.equal(
      await Deno.readTextFile(path),
      '{"id":1,"text":"a\\nb"}\n{"id":2}\n',
    );
    assert.deepEqual(await listDirectory(`${root}/out`), ["records.jsonl"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readJsonFile parses a file", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/config.json`;
    await Deno.writeTextFile(path, '{"seed": 7}');

    assert.deepEqual(await readJsonFile<{ seed: number }>(path, "Config"), {
      seed: 7,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readJsonFile missing file names path", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/missing.json`;

    await assert.rejects(
      readJsonFile(path, "Run config", "Run training first."),
      { message: `Run config not found: ${path}. Run training first.` },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readJsonFile malformed file names path", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = `${root}/broken.json`;
    await Deno.writeTextFile(path, '{"seed": 7,}');

    await assert.rejects(readJsonFile(path, "Run config"), (error: Error) => {
      assert.ok(
        error.message.startsWith(`Run config at ${path} is not valid JSON`),
      );
      assert.match(error.message, /position 11/);
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
