import assert from "node:assert/strict";
import { ChecksumError, downloadFile, DOWNLOADS, resolveTaskData, sha256File } from "../lib/sources.ts";
import { loadTaskSplits } from "../lib/tasks.ts";
import { dataDir } from "./helpers.ts";

/** A file server on 127.0.0.1 over the data folder, with switches to cut or corrupt a response. */
interface TestServer {
  baseUrl: string;
  requests: { path: string; range: string | null }[];
  /** Paths whose next response stops after half the body. */
  cutOnce: Set<string>;
  /** Paths served with one byte changed. */
  corrupt: Set<string>;
  close: () => Promise<void>;
}

function startServer(root: string): TestServer {
  const requests: TestServer["requests"] = [];
  const cutOnce = new Set<string>();
  const corrupt = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname).replace(/^\/+/, "");
    const range = request.headers.get("range");
    requests.push({ path, range });
    if (path.includes("..")) return new Response("bad path", { status: 400 });

    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await Deno.readFile(`${root}/${path}`);
    } catch {
      return new Response("not found", { status: 404 });
    }
    if (corrupt.has(path)) {
      bytes = bytes.slice();
      bytes[10] ^= 1;
    }

    let start = 0;
    const match = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (match) start = Number(match[1]);
    const body = bytes.slice(start);
    const headers = new Headers({ "content-length": String(body.length) });
    if (match) headers.set("content-range", `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    const status = match ? 206 : 200;

    if (cutOnce.delete(path)) {
      // Send half the body, then fail the stream so the connection closes mid-way.
      const half = body.slice(0, Math.floor(body.length / 2));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(half);
        },
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          controller.error(new Error("connection cut by the test"));
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(body, { status, headers });
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    requests,
    cutOnce,
    corrupt,
    close: () => server.shutdown(),
  };
}

/** Returns a 127.0.0.1 port that nothing listens on: one the system just handed out and that was closed. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "adaspec-sources-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("download checksums match the data", async () => {
  for (const entries of Object.values(DOWNLOADS)) {
    for (const entry of entries) {
      const path = `${dataDir()}/${entry.path}`;
      assert.equal((await Deno.stat(path)).size, entry.bytes, entry.path);
      assert.equal(await sha256File(path), entry.sha256, entry.path);
    }
  }
});

Deno.test("downloadFile writes verified file", async () => {
  const server = startServer(dataDir());
  try {
    await withTempDir(async (dir) => {
      const entry = DOWNLOADS.mbpp[1];
      const dest = `${dir}/mbpp/validation.jsonl`;
      const lines: string[] = [];
      await downloadFile(`${server.baseUrl}/${entry.path}`, dest, entry.sha256, {
        log: (line) => lines.push(line),
        progressBytes: 16_000,
      });
      assert.equal(await sha256File(dest), entry.sha256);
      assert.equal(await Deno.stat(`${dest}.part`).catch(() => null), null);
      assert.ok(lines.some((line) => /downloading .*: \d+\.\d of 0\.1 MB \(\d+ %\)/.test(line)), lines.join("\n"));
      assert.ok(lines.some((line) => line.includes("sha256 verified")));
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile resumes after a cut", async () => {
  const server = startServer(dataDir());
  try {
    await withTempDir(async (dir) => {
      const entry = DOWNLOADS.mbpp[0];
      const dest = `${dir}/train.jsonl`;
      server.cutOnce.add(entry.path);
      const lines: string[] = [];
      await downloadFile(`${server.baseUrl}/${entry.path}`, dest, entry.sha256, { log: (line) => lines.push(line) });

      assert.equal(await sha256File(dest), entry.sha256);
      assert.equal(server.requests.length, 2);
      assert.equal(server.requests[0].range, null);
      assert.match(server.requests[1].range ?? "", /^bytes=\d+-$/);
      const resumedAt = Number(/\d+/.exec(server.requests[1].range!)![0]);
      assert.ok(resumedAt > 0, `resumed at ${resumedAt}`);
      assert.ok(resumedAt < entry.bytes, `resumed at ${resumedAt}`);
      assert.ok(lines.some((line) => line.includes("resuming, attempt 2 of 3")), lines.join("\n"));
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile resumes a partial file", async () => {
  const server = startServer(dataDir());
  try {
    await withTempDir(async (dir) => {
      const entry = DOWNLOADS.mbpp[1];
      const dest = `${dir}/validation.jsonl`;
      const bytes = await Deno.readFile(`${dataDir()}/${entry.path}`);
      await Deno.writeFile(`${dest}.part`, bytes.subarray(0, 1000));

      await downloadFile(`${server.baseUrl}/${entry.path}`, dest, entry.sha256, { log: () => {} });

      assert.deepEqual(server.requests.map((r) => r.range), ["bytes=1000-"]);
      assert.equal(await sha256File(dest), entry.sha256);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile rejects a bad checksum", async () => {
  const server = startServer(dataDir());
  try {
    await withTempDir(async (dir) => {
      const entry = DOWNLOADS.mbpp[1];
      const dest = `${dir}/validation.jsonl`;
      server.corrupt.add(entry.path);
      const url = `${server.baseUrl}/${entry.path}`;
      await assert.rejects(downloadFile(url, dest, entry.sha256, { log: () => {} }), (error: Error) => {
        assert.ok(error instanceof ChecksumError);
        assert.match(
          error.message,
          new RegExp(`^checksum mismatch for ${url}: expected sha256 ${entry.sha256}, got [0-9a-f]{64}`),
        );
        return true;
      });
      assert.equal(await Deno.stat(dest).catch(() => null), null);
      assert.equal(await Deno.stat(`${dest}.part`).catch(() => null), null);
    });
  } finally {
    await server.close();
  }
});

Deno.test("resolveTaskData prefers the data folder", async () => {
  const lines: string[] = [];
  const data = await resolveTaskData("mbpp", { dataDir: dataDir(), download: false, log: (line) => lines.push(line) });
  assert.equal(data.source, "data-dir");
  assert.equal(data.dir, dataDir());
  assert.equal(data.splits.test.length, 500);
  assert.match(data.splitNote, /task_id/);
});

Deno.test("resolveTaskData downloads then uses cache", async () => {
  const server = startServer(dataDir());
  try {
    await withTempDir(async (dir) => {
      const options = { dataDir: `${dir}/empty`, cacheDir: `${dir}/cache`, baseUrl: server.baseUrl, log: () => {} };
      const downloaded = await resolveTaskData("xsum", options);
      assert.equal(downloaded.source, "download");
      assert.deepEqual(downloaded.splits, await loadTaskSplits("xsum", dataDir()));
      assert.equal(await sha256File(`${dir}/cache/data/xsum/test.jsonl`), DOWNLOADS.xsum[1].sha256);
      const requestsAfterDownload = server.requests.length;

      const cached = await resolveTaskData("xsum", options);
      assert.equal(cached.source, "cache");
      assert.equal(server.requests.length, requestsAfterDownload);
    });
  } finally {
    await server.close();
  }
});

Deno.test("resolveTaskData falls back to synthetic", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const data = await resolveTaskData("cnn_dailymail", {
      dataDir: `${dir}/missing`,
      cacheDir: `${dir}/cache`,
      baseUrl: `http://127.0.0.1:${closedPort()}`,
      downloadOptions: { attempts: 2 },
      log: (line) => lines.push(line),
    });
    assert.equal(data.source, "synthetic");
    assert.equal(data.dir, undefined);
    assert.ok(data.splits.train.length > 0);
    assert.ok(data.splits.test[0].parts !== undefined);
    assert.ok(lines.some((line) => line.includes("download failed")), lines.join("\n"));
    assert.ok(lines.some((line) => line.includes("synthetic stand-in")), lines.join("\n"));
    assert.match(data.splitNote, /^synthetic stand-in generated with seed 1/);
  });
});

Deno.test("resolveTaskData reports a bad checksum", async () => {
  const server = startServer(dataDir());
  try {
    await withTempDir(async (dir) => {
      server.corrupt.add("alpaca/train.jsonl");
      const options = { dataDir: `${dir}/none`, cacheDir: `${dir}/cache`, baseUrl: server.baseUrl, log: () => {} };
      await assert.rejects(resolveTaskData("alpaca", options), ChecksumError);
    });
  } finally {
    await server.close();
  }
});

Deno.test("resolveTaskData without mirror skips download", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    // Alpaca has no canonical URL, so without a mirror no request is made to any host.
    const data = await resolveTaskData("alpaca", {
      dataDir: `${dir}/none`,
      cacheDir: `${dir}/cache`,
      baseUrl: undefined,
      log: (line) => lines.push(line),
    });
    assert.equal(data.source, "synthetic");
    assert.ok(lines.some((line) => line.includes("no canonical download URL")), lines.join("\n"));
  });
});
