/**
 * Model checkpoints: weights as safetensors (little-endian float32) beside a JSON config.
 *
 * @module
 */
import { type ModelConfig, TransformerLM, validateModelConfig } from "./model.ts";
import { writeBytesAtomic, writeTextAtomic } from "./fs.ts";

/** Returns the bytes of a safetensors file holding `tensors` (F32 only). */
export function encodeSafetensors(
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let headerText = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned.
  headerText += " ".repeat((8 - ((8 + new TextEncoder().encode(headerText).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const { data } of tensors.values()) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    position += data.byteLength;
  }
  return out;
}

/** Parses a safetensors file; rejects other dtypes and out-of-range offsets with the tensor name. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "safetensors",
): Map<string, { shape: number[]; data: Float32Array }> {
  if (bytes.length < 8) throw new Error(`${source}: file too short to be safetensors`);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + headerLength > bytes.length) {
    throw new Error(`${source}: header length ${headerLength} exceeds the file size`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new Error(`${source}: invalid header JSON (${(error as Error).message}); the file is damaged`);
  }
  const base = 8 + headerLength;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (entry.dtype !== "F32") {
      throw new Error(`${source}: tensor "${name}" has dtype ${entry.dtype}; only F32 is supported`);
    }
    const [start, end] = entry.data_offsets;
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (end - start !== size * 4 || base + end > bytes.length) {
      throw new Error(
        `${source}: tensor "${name}" has offsets [${start}, ${end}] that do not fit shape [${entry.shape}]; the file is damaged`,
      );
    }
    const copy = bytes.slice(base + start, base + end);
    tensors.set(name, { shape: entry.shape, data: new Float32Array(copy.buffer) });
  }
  return tensors;
}

/** Saves `model` as `<dir>/model.safetensors` and `<dir>/config.json` (each written atomically). */
export async function saveModel(model: TransformerLM, dir: string): Promise<void> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, variable] of model.params) {
    tensors.set(name, { shape: variable.shape, data: variable.dataSync() as Float32Array });
  }
  await writeBytesAtomic(`${dir}/model.safetensors`, encodeSafetensors(tensors, { format: "adaspec-transformer" }));
  await writeTextAtomic(`${dir}/config.json`, JSON.stringify(model.config, null, 2) + "\n");
}

/** Loads a model saved by {@link saveModel}; a missing or mismatched file gets an error naming it. */
export async function loadModel(dir: string): Promise<TransformerLM> {
  let configText: string;
  let bytes: Uint8Array;
  try {
    configText = await Deno.readTextFile(`${dir}/config.json`);
    bytes = await Deno.readFile(`${dir}/model.safetensors`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`checkpoint not found in ${dir}: expected config.json and model.safetensors`);
    }
    throw error;
  }
  const config = validateModelConfig(JSON.parse(configText) as ModelConfig);
  return TransformerLM.fromWeights(config, decodeSafetensors(bytes, `${dir}/model.safetensors`));
}
