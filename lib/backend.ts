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
 * `tensorflow` needs `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` with its native
 * library installed; without them it fails with a message saying how to install them.
 */
export async function initBackend(requested?: string): Promise<BackendInfo> {
  const name = resolveBackendName(requested);
  if (active?.name === name && tf.getBackend() === name) return active;

  let version = tf.version.tfjs;
  let detail = "";
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

async function importNativeBinding(): Promise<{ version: string; detail: string }> {
  // The binding calls util.isNullOrUndefined, which Node removed and Deno's node:util lacks.
  const util = await import("node:util");
  const patched = util as unknown as Record<string, unknown>;
  if (typeof patched.isNullOrUndefined !== "function") {
    try {
      patched.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
    } catch {
      // NOTE: if node:util is frozen the binding may still fail, and the error below reports it.
    }
  }
  const failures: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      const mod = await import(pkg);
      const version = (mod.version as Record<string, string> | undefined)?.["tfjs-node"] ?? "unknown";
      return { version, detail: `${pkg} (libtensorflow ${mod.version?.["tfjs-core"] ?? ""})`.trim() };
    } catch (error) {
      failures.push(`${pkg}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(
    `backend tensorflow: neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node could be loaded ` +
      `(${failures.join("; ")}). Install one with \`npm install @tensorflow/tfjs-node@4.22.0\` in the ` +
      `project (its install script downloads libtensorflow, so it needs internet access) and map it in ` +
      `deno.json, or pick --backend wasm.`,
  );
}
