/**
 * Installs `@tensorflow/tfjs-node` 4.22.0 (or `-gpu` with `--gpu`) into `.native/` so that
 * `initBackend("tensorflow")` can load it.
 *
 * It first runs the standard `npm install`, whose install script downloads libtensorflow 2.9.1 from
 * storage.googleapis.com. When that download fails, it installs the package without scripts and
 * builds the N-API binding with node-gyp against the TensorFlow C API shipped in a TensorFlow pip
 * wheel: `--wheel PATH`, else one fetched with `pip download --no-deps tensorflow-cpu==2.21.0`.
 *
 * Usage: `deno task setup-native [--gpu] [--wheel PATH]`. Needs node, npm, python3, make and g++.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const TFJS_NODE_VERSION = "4.22.0";
/** Wheel fetched with pip when `--wheel` is not given. */
const DEFAULT_WHEEL = { cpu: "tensorflow-cpu==2.21.0", gpu: "tensorflow==2.21.0" };
const USAGE = `usage: deno task setup-native [--gpu] [--wheel PATH]

  --gpu         install @tensorflow/tfjs-node-gpu instead of @tensorflow/tfjs-node
  --wheel PATH  TensorFlow pip wheel (.whl) whose libtensorflow_cc.so.2 and C API headers the binding
                is built against when the libtensorflow download fails; without it the script runs
                \`pip download --no-deps ${DEFAULT_WHEEL.cpu}\` (${DEFAULT_WHEEL.gpu} with --gpu)`;

/** Files the binding build needs from a wheel, relative to the wheel's `tensorflow/` folder. */
const WHEEL_LIBRARIES = ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"];
/** Header folders that the C API headers include, as of TensorFlow 2.21 (tstring and status headers moved to tsl and xla). */
const WHEEL_HEADER_DIRS = [
  "include/tensorflow/c/",
  "include/tensorflow/core/platform/",
  "include/tsl/platform/",
  "include/xla/tsl/c/",
];
const WHEEL_HEADERS = ["include/tensorflow/c/c_api.h", "include/tensorflow/c/eager/c_api.h"];

/** Output patterns of tfjs-node's install script when it cannot download libtensorflow. */
const DOWNLOAD_FAILURE =
  /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|getaddrinfo|storage\.googleapis\.com/;

class SetupError extends Error {}

interface Options {
  gpu: boolean;
  wheel: string | null;
}

interface CommandResult {
  code: number;
  output: string;
}

function parseArgs(args: string[]): Options {
  const options: Options = { gpu: false, wheel: null };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--gpu") {
      options.gpu = true;
    } else if (arg === "--wheel") {
      const value = args[++i];
      if (!value) throw new SetupError(`--wheel needs a path to a .whl file\n${USAGE}`);
      options.wheel = value;
    } else if (arg.startsWith("--wheel=")) {
      options.wheel = arg.slice("--wheel=".length);
    } else if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    } else {
      throw new SetupError(`unknown argument "${arg}"\n${USAGE}`);
    }
  }
  return options;
}

function log(message: string): void {
  console.log(`setup-native: ${message}`);
}

/**
 * Runs a command and captures stdout and stderr together. A non-zero exit is returned in the result,
 * not thrown; a command missing from PATH throws a SetupError.
 */
async function run(cmd: string, args: string[], cwd?: string): Promise<CommandResult> {
  let child;
  try {
    child = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new SetupError(`${cmd} not found on PATH; install it (for example \`apt-get install ${cmd}\`)`);
    }
    throw error;
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split("\n").slice(-lines).map((line) => `  | ${line}`).join("\n");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Returns the binding path that node-pre-gyp's `find` resolves to, whether or not it exists yet. */
async function bindingPath(packageDir: string): Promise<string> {
  const pkg = JSON.parse(await Deno.readTextFile(join(packageDir, "package.json")));
  return join(
    packageDir,
    pkg.binary.module_path.replace("{napi_build_version}", String(await napiVersion(packageDir))),
    "tfjs_binding.node",
  );
}

/**
 * Returns the N-API version to build for: the highest one the package lists that Deno supports,
 * which is the one node-pre-gyp's `find` picks when Deno loads the package.
 */
async function napiVersion(packageDir: string): Promise<number> {
  const pkg = JSON.parse(await Deno.readTextFile(join(packageDir, "package.json")));
  const process = (await import("node:process")).default;
  const supported = Number(process.versions.napi);
  const listed = (pkg.binary.napi_versions as number[]).filter((version) => version <= supported);
  if (listed.length === 0) {
    throw new SetupError(`Deno supports N-API ${supported}, but the package needs one of ${pkg.binary.napi_versions}`);
  }
  return Math.max(...listed);
}

async function writeNativePackageJson(nativeDir: string): Promise<void> {
  await Deno.mkdir(nativeDir, { recursive: true });
  const file = join(nativeDir, "package.json");
  if (!await exists(file)) {
    const manifest = { name: "adaspec-native", private: true, description: "Native TensorFlow backend for Deno" };
    await Deno.writeTextFile(file, JSON.stringify(manifest, null, 2) + "\n");
  }
}

/** Runs the standard install. Returns true when it built or downloaded the binding. */
async function standardInstall(nativeDir: string, spec: string): Promise<boolean> {
  log(`npm install ${spec} in ${nativeDir} (its install script downloads libtensorflow 2.9.1)`);
  const result = await run("npm", ["install", "--no-audit", "--no-fund", spec], nativeDir);
  if (result.code === 0) return true;
  if (DOWNLOAD_FAILURE.test(result.output)) {
    log("the install script could not download libtensorflow from storage.googleapis.com (no internet access?):");
    console.log(tail(result.output, 8));
    return false;
  }
  throw new SetupError(`npm install ${spec} failed with exit code ${result.code}:\n${tail(result.output)}`);
}

/** Returns a wheel path: the given one, else one fetched with pip into `tempDir`. */
async function obtainWheel(options: Options, tempDir: string): Promise<string> {
  if (options.wheel) {
    if (!await exists(options.wheel)) throw new SetupError(`--wheel ${options.wheel}: file not found`);
    return options.wheel;
  }
  const requirement = options.gpu ? DEFAULT_WHEEL.gpu : DEFAULT_WHEEL.cpu;
  log(`pip download --no-deps ${requirement}`);
  const result = await run("python3", ["-m", "pip", "download", "--no-deps", requirement, "-d", tempDir]);
  if (result.code !== 0) {
    throw new SetupError(
      `pip download ${requirement} failed with exit code ${result.code}; download a TensorFlow wheel ` +
        `by other means and pass it with --wheel PATH:\n${tail(result.output)}`,
    );
  }
  const wheel = [...Deno.readDirSync(tempDir)].find((entry) => entry.name.endsWith(".whl"));
  if (!wheel) throw new SetupError(`pip download ${requirement} succeeded but left no .whl in ${tempDir}`);
  return join(tempDir, wheel.name);
}

/**
 * Extracts the shared libraries and the C API headers from `wheel` into `targetDir` (`lib/` and
 * `include/`), with python3's zipfile because the machine needs python3 for node-gyp anyway.
 */
async function extractWheel(wheel: string, targetDir: string): Promise<void> {
  log(`extracting libtensorflow_cc.so.2, libtensorflow_framework.so.2 and C API headers from ${wheel}`);
  await Deno.remove(targetDir, { recursive: true }).catch(() => {});
  const script = `
import os, shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
libs = set(sys.argv[3].split(","))
headers = tuple(sys.argv[4].split(","))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith("tensorflow/") or name.endswith("/"):
            continue
        rest = name[len("tensorflow/"):]
        if rest in libs:
            out = os.path.join(target, "lib", rest)
        elif rest.startswith(headers):
            out = os.path.join(target, rest)
        else:
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(name) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
`;
  const result = await run("python3", [
    "-c",
    script,
    wheel,
    targetDir,
    WHEEL_LIBRARIES.join(","),
    WHEEL_HEADER_DIRS.join(","),
  ]);
  if (result.code !== 0) {
    throw new SetupError(`extracting ${wheel} failed (is it a valid .whl file?):\n${tail(result.output)}`);
  }
  const expected = [...WHEEL_LIBRARIES.map((name) => join("lib", name)), ...WHEEL_HEADERS];
  const missing = [];
  for (const file of expected) {
    if (!await exists(join(targetDir, file))) missing.push(`tensorflow/${file.replace(/^lib\//, "")}`);
  }
  if (missing.length > 0) {
    throw new SetupError(
      `${wheel} lacks ${missing.join(", ")}; use a Linux TensorFlow 2.x wheel such as ${DEFAULT_WHEEL.cpu}`,
    );
  }
}

async function symlink(target: string, path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
  await Deno.symlink(relative(dirname(path), target), path);
}

/**
 * Lays out `deps/` as tfjs-node's binding.gyp expects it on Linux: headers under `deps/include`,
 * and `deps/lib/libtensorflow.so` and `libtensorflow_framework.so` for `-ltensorflow
 * -ltensorflow_framework`. The binding then records the sonames `libtensorflow_cc.so.2` and
 * `libtensorflow_framework.so.2`, which it finds at run time through its rpath `$ORIGIN/../../deps/lib`.
 * `libtensorflow_cc.so.2` exports the `TF_*` and `TFE_*` C API, so it replaces `libtensorflow.so`.
 */
async function layOutDeps(packageDir: string, libtensorflowDir: string): Promise<void> {
  const deps = join(packageDir, "deps");
  await Deno.remove(deps, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(deps, "lib"), { recursive: true });
  await symlink(join(libtensorflowDir, "include"), join(deps, "include"));
  for (const name of WHEEL_LIBRARIES) {
    await symlink(join(libtensorflowDir, "lib", name), join(deps, "lib", name));
  }
  await symlink(join(deps, "lib", "libtensorflow_cc.so.2"), join(deps, "lib", "libtensorflow.so"));
  await symlink(join(deps, "lib", "libtensorflow_framework.so.2"), join(deps, "lib", "libtensorflow_framework.so"));
}

/** Returns the command that starts node-gyp: npm's bundled copy if present, else `npm exec`. */
async function nodeGypCommand(): Promise<string[]> {
  const root = await run("npm", ["root", "-g"]);
  const bundled = join(root.output.trim(), "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  if (root.code === 0 && await exists(bundled)) return ["node", bundled];
  return ["npm", "exec", "--yes", "--", "node-gyp"];
}

/**
 * Returns `--nodedir=PREFIX` when the Node headers sit next to the node binary (Debian's nodejs
 * package puts them in /usr/include/node), so node-gyp does not try to download them.
 */
async function nodeDirArgs(): Promise<string[]> {
  const execPath = await run("node", ["-p", "process.execPath"]);
  const prefix = dirname(dirname(execPath.output.trim()));
  const common = join(prefix, "include", "node", "common.gypi");
  return await exists(common) ? [`--nodedir=${prefix}`] : [];
}

async function buildBinding(packageDir: string): Promise<void> {
  const napi = await napiVersion(packageDir);
  const modulePath = dirname(await bindingPath(packageDir));
  const [cmd, ...prefixArgs] = await nodeGypCommand();
  const args = [
    ...prefixArgs,
    "rebuild",
    ...await nodeDirArgs(),
    `--napi_build_version=${napi}`,
    "--module_name=tfjs_binding",
    `--module_path=${modulePath}`,
  ];
  log(`building the binding (N-API ${napi}): ${cmd} ${args.join(" ")}`);
  const result = await run(cmd, args, packageDir);
  if (result.code !== 0) {
    throw new SetupError(
      `node-gyp failed with exit code ${result.code}. It needs python3, make, g++ and the Node headers ` +
        `(apt-get install python3 make g++ nodejs; without local headers node-gyp downloads them):\n` +
        tail(result.output),
    );
  }
}

/** Loads the package in Node and runs a matMul, so a broken binding fails here and not in a training run. */
async function smokeTest(packageDir: string): Promise<string> {
  const script = `
const tf = require(${JSON.stringify(packageDir)});
const product = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1], [1]])).dataSync();
if (tf.getBackend() !== "tensorflow" || product[0] !== 3 || product[1] !== 7) {
  throw new Error("backend " + tf.getBackend() + " returned " + Array.from(product));
}
console.log("TF_Version=" + tf.backend().binding.TF_Version);
`;
  const result = await run("node", ["-e", script]);
  if (result.code !== 0) {
    throw new SetupError(`the built binding failed to load or compute in Node:\n${tail(result.output)}`);
  }
  const version = result.output.match(/^TF_Version=(.*)$/m)?.[1] ?? "unknown";
  return `libtensorflow ${version}`;
}

async function main(): Promise<void> {
  const options = parseArgs(Deno.args);
  const repoRoot = fileURLToPath(new URL("..", import.meta.url));
  const nativeDir = join(repoRoot, ".native");
  const name = options.gpu ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  const spec = `${name}@${TFJS_NODE_VERSION}`;
  const packageDir = join(nativeDir, "node_modules", name);

  await writeNativePackageJson(nativeDir);
  const installed = await standardInstall(nativeDir, spec);
  if (installed) {
    log("the standard install succeeded");
  } else {
    log(`falling back to a source build: npm install --ignore-scripts ${spec}`);
    const result = await run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", spec], nativeDir);
    if (result.code !== 0) {
      throw new SetupError(
        `npm install --ignore-scripts ${spec} failed with exit code ${result.code}:\n${tail(result.output)}`,
      );
    }
    const tempDir = await Deno.makeTempDir({ prefix: "adaspec-wheel-" });
    try {
      const wheel = await obtainWheel(options, tempDir);
      const libtensorflowDir = join(nativeDir, "libtensorflow");
      await extractWheel(wheel, libtensorflowDir);
      await layOutDeps(packageDir, libtensorflowDir);
    } finally {
      await Deno.remove(tempDir, { recursive: true });
    }
    // NOTE: only the CPU wheel has been tried. With --gpu the binding links the wheel's CUDA build,
    // which also needs the CUDA and cuDNN libraries on the loader path.
    await buildBinding(packageDir);
  }

  const binding = await bindingPath(packageDir);
  if (!await exists(binding)) throw new SetupError(`the install finished but ${binding} does not exist`);
  log("checking the binding with a matMul in Node");
  const tfVersion = await smokeTest(packageDir);
  log(`done: ${name} ${TFJS_NODE_VERSION} with ${tfVersion}`);
  log(`binding: ${binding}`);
  log('use it with initBackend("tensorflow") or --backend tensorflow');
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    console.error(`setup-native failed: ${error.message}`);
    Deno.exit(1);
  }
}
