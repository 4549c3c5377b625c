/**
 * Picks and initialises the TensorFlow.js backend and reports which one runs.
 *
 * @module
 */
import { tf } from "./tf.ts";

/** The backends the library can run on. */
export const BACKENDS = ["wasm", "cpu", "tensorflow", "webgpu"] as const;

/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** The environment variable that selects the backend when no option is given. */
export const BACKEND_ENV = "ADASPEC_BACKEND";

/** Backend name and versions, written into every result. */
export interface BackendInfo {
  /** Backend name as TensorFlow.js reports it (`wasm`, `cpu`, `tensorflow`, `webgpu`). */
  name: BackendName;
  /** Version of the package that provides the backend. */
  version: string;
  /** Version of `@tensorflow/tfjs-core`. */
  tfjsVersion: string;
  /** Extra facts, for example the native package used by `tensorflow`. */
  detail: string;
}

let active: BackendInfo | null = null;

/**
 * Returns the backend name from `requested`, else from `ADASPEC_BACKEND`, else `wasm`.
 * An unknown name is rejected with the list of valid names.
 */
export function resolveBackendName(requested?: string): BackendName {
  const name = requested ?? Deno.env.get(BACKEND_ENV) ?? "wasm";
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new Error(
      `unknown backend "${name}": use one of ${BACKENDS.join(", ")} (option --backend or ${BACKEND_ENV})`,
    );
  }
  return name as BackendName;
}

/**
 * Initialises a backend and makes it the active one. Calling it again with the same name returns
 * the same info without reinitialising.
 *
 * `tensorflow` needs `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` with a built binding,
 * installed by `deno task setup-native` (see {@link nativePackageCandidates}); without one it fails
 * with a message saying how to install it.
 */
export async function initBackend(requested?: string): Promise<BackendInfo> {
  const name = resolveBackendName(requested);
  if (active?.name === name && tf.getBackend() === name) return active;

  let version = tf.version.tfjs;
  let detail = "plain JavaScript kernels";
  if (name === "wasm") {
    const wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
    version = wasm.version_wasm;
    detail = "single-threaded WebAssembly with SIMD";
  } else if (name === "webgpu") {
    if (!("gpu" in navigator) || !navigator.gpu) {
      throw new Error(
        "backend webgpu: this Deno has no navigator.gpu; use a Deno build with WebGPU or pick --backend wasm",
      );
    }
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) {
      throw new Error("backend webgpu: no WebGPU adapter found (is a Vulkan driver installed?); pick --backend wasm");
    }
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
    version = "4.22.0";
    const info = (adapter as unknown as { info?: { description?: string; vendor?: string } }).info;
    detail = `adapter ${info?.description || info?.vendor || "unknown"}`;
  } else if (name === "tensorflow") {
    ({ version, detail } = await importNativeBinding());
  }

  const ok = await tf.setBackend(name);
  if (!ok) {
    const hint = name === "wasm"
      ? "the wasm backend reads its .wasm file from the Deno cache, so run with --allow-read"
      : "pick --backend wasm";
    throw new Error(`backend ${name} failed to initialise (TensorFlow.js printed the cause above); ${hint}`);
  }
  await tf.ready();
  active = { name, version, tfjsVersion: tf.version.tfjs, detail };
  return active;
}

/** Returns the backend that {@link initBackend} set up last, or null before the first call. */
export function activeBackend(): BackendInfo | null {
  return active;
}

/** The environment variable that points at an installed `@tensorflow/tfjs-node(-gpu)` package folder. */
export const TFJS_NODE_DIR_ENV = "ADASPEC_TFJS_NODE_DIR";

/** A tfjs-node package folder and the path of its compiled binding. */
export interface NativePackage {
  /** Package folder, for example `.native/node_modules/@tensorflow/tfjs-node`. */
  dir: string;
  /** Path of `tfjs_binding.node`, which may be missing when the build never ran or failed. */
  binding: string;
}

/**
 * Lists the tfjs-node package folders {@link initBackend} tries for `tensorflow`: the one in
 * `ADASPEC_TFJS_NODE_DIR` if set, else `tfjs-node-gpu` and then `tfjs-node` under `.native/`
 * in the repository root, where `deno task setup-native` installs them. A library imported over
 * HTTP has no repository root, so there only the environment variable applies.
 */
export async function nativePackageCandidates(): Promise<NativePackage[]> {
  const { join } = await import("node:path");
  const { fileURLToPath } = await import("node:url");
  const override = Deno.env.get(TFJS_NODE_DIR_ENV);
  const dirs: string[] = [];
  if (override) {
    dirs.push(override);
  } else if (new URL(import.meta.url).protocol === "file:") {
    const nativeDir = fileURLToPath(new URL("../.native/node_modules/@tensorflow/", import.meta.url));
    dirs.push(join(nativeDir, "tfjs-node-gpu"), join(nativeDir, "tfjs-node"));
  }
  const process = (await import("node:process")).default;
  return dirs.map((dir) => ({ dir, binding: nativeBindingPath(dir, Number(process.versions.napi)) }));
}

/**
 * Returns the binding path that node-pre-gyp's `find` picks when tfjs-node loads: `module_path`
 * from the package.json, for the highest listed N-API version the runtime supports.
 */
function nativeBindingPath(dir: string, napi: number): string {
  let binary: { module_path: string; napi_versions: number[] };
  try {
    binary = JSON.parse(Deno.readTextFileSync(`${dir}/package.json`)).binary;
  } catch {
    return `${dir}/lib/napi-v8/tfjs_binding.node`;
  }
  const version = Math.max(...binary.napi_versions.filter((listed) => listed <= napi));
  const modulePath = binary.module_path.replace("{napi_build_version}", String(version)).replace(/^\.\//, "");
  return `${dir}/${modulePath}/tfjs_binding.node`;
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Loads tfjs-node with Node's `require` from the first candidate that has a built binding. The
 * package requires its own copy of `@tensorflow/tfjs`, but tfjs-core keeps the engine and the kernel
 * registry on `globalThis`, so the `tensorflow` backend it registers is visible to the library's `tf`.
 */
async function importNativeBinding(): Promise<{ version: string; detail: string }> {
  // The binding calls util.isNullOrUndefined, which Node removed and Deno's node:util lacks. The ES
  // module namespace is read-only, so the patch goes on the CommonJS object that require("util") returns.
  const util = (await import("node:util")).default as unknown as Record<string, unknown>;
  if (typeof util.isNullOrUndefined !== "function") {
    util.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
  }

  const candidates = await nativePackageCandidates();
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!fileExists(candidate.binding)) {
      failures.push(`${candidate.binding} not found`);
      continue;
    }
    // libtensorflow logs INFO lines about oneDNN and CPU features while it loads; show warnings and errors only.
    if (Deno.env.get("TF_CPP_MIN_LOG_LEVEL") === undefined) Deno.env.set("TF_CPP_MIN_LOG_LEVEL", "1");
    const { createRequire } = await import("node:module");
    const require = createRequire(`${candidate.dir}/package.json`);
    try {
      const mod = require(candidate.dir);
      const pkg = require(`${candidate.dir}/package.json`) as { name: string; version: string };
      const backend = tf.findBackend("tensorflow") as unknown as { binding?: { TF_Version?: string } } | null;
      const libtensorflow = backend?.binding?.TF_Version ?? "unknown";
      const version = (mod.version as Record<string, string> | undefined)?.["tfjs-node"] ?? pkg.version;
      return { version, detail: `${pkg.name} from ${candidate.dir}, libtensorflow ${libtensorflow}` };
    } catch (error) {
      failures.push(`${candidate.dir}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  const tried = failures.length > 0 ? failures.join("; ") : `no package folder to try, set ${TFJS_NODE_DIR_ENV}`;
  throw new Error(
    `backend tensorflow: no usable @tensorflow/tfjs-node (${tried}). Install it with ` +
      `\`deno task setup-native\` (add --gpu for @tensorflow/tfjs-node-gpu), or set ${TFJS_NODE_DIR_ENV} ` +
      `to an installed package folder, or pick --backend wasm.`,
  );
}
