/**
 * ONNX export: a Digits Sequential model as a standard ONNX model (opset 13),
 * encoded with protobufjs through `onnx-proto` (static code generated from
 * the official onnx.proto of ONNX v1.10.2), never by hand.
 *
 * The graph keeps Digits' contract: input `input` float [N, H, W, C] (NHWC,
 * N dynamic) holding pixels as the model expects them (raw 0..255 pixels x
 * metadata.inputScale), output `probabilities` [N, classes]. With
 * `rawPixels` the scaling is baked in: a Mul by inputScale comes first and
 * the input takes raw 0..255 pixels.
 *
 * ONNX Conv and MaxPool are NCHW, Digits (and Keras) are NHWC. The exporter
 * tracks the layout of the running value and inserts a Transpose only where
 * it changes:
 *
 *   NHWC --Transpose[0,3,1,2]--> NCHW   before Conv / MaxPool
 *   NCHW --Transpose[0,2,3,1]--> NHWC   before Flatten, Dense, Softmax and the output
 *
 * so Flatten flattens in H-W-C order, as Keras channels_last (the Dense after
 * it keeps its [in, out] kernel unchanged).
 *
 *   Conv2D        kernel [kh, kw, C, K] -> W [K, C, kh, kw]; Conv(pads from TF's 'same'/'valid' rule) + Relu
 *   MaxPooling2D  MaxPool(kernel_shape, strides), valid
 *   Flatten       Flatten(axis=1) on NHWC
 *   Dense         MatMul(x, kernel [in, units]) + Add(bias) (+ Relu / Softmax(axis=-1))
 *   Activation    Relu / Softmax(axis=-1) / nothing
 *   BatchNormalization  (inference: moving statistics) BatchNormalization on NCHW maps or [N, C] rows
 *                 (channels on axis 1); on other ranks Mul + Add per channel in NHWC
 *   Dropout       nothing (identity at inference)
 */
import onnxProto from 'onnx-proto';
import { promises as fs } from 'node:fs';
import { DigitsError } from '../errors.js';
// the layers register how they write themselves into the graph (nn/index.js loads every built-in one)
import type { Sequential } from '../nn/index.js';
import { layerRegistration, type OnnxAttributes, type OnnxGraph } from '../nn/layer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { loadModel, makeMetadata, type DigitsMetadata } from './model-files.js';
import { VERSION } from '../version.js';

const { onnx } = onnxProto;
type INode = onnxProto.onnx.INodeProto;
type ITensor = onnxProto.onnx.ITensorProto;
type IAttribute = onnxProto.onnx.IAttributeProto;

/** The operator set the graph uses; every op in it exists unchanged since opset 13. */
export const ONNX_OPSET = 13;
/** IR version that goes with opset 13 (ONNX 1.8). */
export const ONNX_IR_VERSION = 7;
export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'probabilities';

/** How a model is exported to ONNX: `rawPixels` puts the input scaling in the graph. */
export interface OnnxExportOptions {
  /** bake metadata.inputScale into the graph (a Mul first): the input then takes raw 0..255 pixels */
  rawPixels?: boolean;
}

/** An ONNX export: the model bytes, the op types in order, the input and output shapes. */
export interface OnnxExportResult {
  bytes: Uint8Array;
  /** op types in graph order, for messages and tests */
  ops: string[];
  inputShape: (number | string)[];
  outputShape: (number | string)[];
}

type Layout = 'NHWC' | 'NCHW';

/** Builds the node list, naming values uniquely, and tracks the layout of the running value. */
class GraphBuilder implements OnnxGraph {
  readonly nodes: INode[] = [];
  readonly initializers: ITensor[] = [];
  private count = 0;
  cur: string;
  layout: Layout = 'NHWC';
  /** rank of the running value, batch included */
  rank: number;

  constructor(input: string, rank: number) {
    this.cur = input;
    this.rank = rank;
  }

  private fresh(stem: string): string {
    this.count += 1;
    return `${stem}_${this.count}`;
  }

  /** Append `op` on the running value (plus extra inputs); its output becomes the running value. */
  op(opType: string, name: string, extraInputs: string[] = [], attributes: OnnxAttributes = {}): string {
    const output = this.fresh(`${name}/${opType}`);
    this.nodes.push({
      opType, name: `${name}/${opType}`, input: [this.cur, ...extraInputs], output: [output],
      attribute: Object.entries(attributes).map(([key, v]) => ('ints' in v ? ints(key, v.ints) : 'int' in v ? int(key, v.int) : float(key, v.float))),
    });
    this.cur = output;
    return output;
  }

  floatInit(name: string, dims: number[], values: Float32Array): string {
    const copy = new Float32Array(values); // own, aligned little-endian bytes
    const bytes = new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
    if (!littleEndian()) throw new DigitsError('ONNX export: raw tensor data is little-endian; this machine is big-endian');
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes });
    return name;
  }

  toNCHW(name: string): void {
    if (this.layout === 'NCHW') return;
    this.op('Transpose', name, [], { perm: { ints: [0, 3, 1, 2] } });
    this.layout = 'NCHW';
  }

  toNHWC(name: string): void {
    if (this.layout === 'NHWC') return;
    this.op('Transpose', name, [], { perm: { ints: [0, 2, 3, 1] } });
    this.layout = 'NHWC';
  }

  activation(act: string, name: string): void {
    if (act === 'relu') this.op('Relu', name);
    else if (act === 'softmax') {
      // Keras' softmax runs over the last (channels) axis: do it in NHWC.
      this.toNHWC(name);
      this.op('Softmax', name, [], { axis: { int: -1 } });
    }
  }
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function ints(name: string, values: number[]): IAttribute {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

function float(name: string, value: number): IAttribute {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

function int(name: string, value: number): IAttribute {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

/**
 * The ONNX model bytes for a built Digits model. Every layer class Digits has
 * is covered; an unknown one is a DigitsError naming it.
 */
export function toOnnx(model: Sequential, metadata: DigitsMetadata | null, opts: OnnxExportOptions = {}): OnnxExportResult {
  const inputShape = model.inputShape;
  const outputShape = model.outputShape;
  if (inputShape === null || outputShape === null) {
    throw new DigitsError(`ONNX export: the model "${model.name}" is not built (build it or load a trained one)`);
  }
  const meta = metadata ?? makeMetadata(model);
  const g = new GraphBuilder(ONNX_INPUT_NAME, inputShape.length + 1);
  if (opts.rawPixels && Math.abs(meta.inputScale - 1) > 0) {
    const scale = g.floatInit('input_scale', [], new Float32Array([meta.inputScale]));
    g.op('Mul', 'input_scale', [scale]);
  }

  for (const layer of model.layers) {
    const toOnnx = layerRegistration(layer.className)?.toOnnx;
    if (toOnnx === undefined) {
      throw new DigitsError(`ONNX export: layer "${layer.name}" has type ${layer.className}, which the ONNX exporter does not cover`);
    }
    toOnnx(layer, g);
    g.rank = layer.outputShape!.length + 1;
  }
  g.toNHWC('output');
  // Name the result: an Identity keeps every node's output name unique and the graph output stable.
  g.nodes.push({ opType: 'Identity', name: 'output/Identity', input: [g.cur], output: [ONNX_OUTPUT_NAME] });

  const dims = (shape: (number | string)[]): onnxProto.onnx.TensorShapeProto.IDimension[] =>
    shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  const inDims: (number | string)[] = ['N', ...inputShape];
  const outDims: (number | string)[] = ['N', ...outputShape];
  const valueInfo = (name: string, shape: (number | string)[]): onnxProto.onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims(shape) } } },
  });

  const scaleNote = opts.rawPixels
    ? 'raw 0..255 pixels (the scaling is in the graph)'
    : `raw 0..255 pixels multiplied by ${meta.inputScale} (digits.inputScale)`;
  const modelProto = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'digits',
    producerVersion: VERSION,
    docString: `Digits model "${model.name}": input ${ONNX_INPUT_NAME} float [N, ${inputShape.join(', ')}] (NHWC) holding ` +
      `${scaleNote}; output ${ONNX_OUTPUT_NAME} [N, ${outputShape.join(', ')}] (class probabilities, classes ${meta.classNames.join(' ')}).`,
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(ONNX_INPUT_NAME, inDims)],
      output: [valueInfo(ONNX_OUTPUT_NAME, outDims)],
    },
    metadataProps: [
      // what to multiply raw 0..255 pixels by before feeding `input` (1 when the graph does it itself)
      { key: 'digits.inputScale', value: String(opts.rawPixels ? 1 : meta.inputScale) },
      // the scaling the network itself was trained with (metadata.inputScale of the Digits model)
      { key: 'digits.modelInputScale', value: String(meta.inputScale) },
      { key: 'digits.classNames', value: JSON.stringify(meta.classNames) },
      { key: 'digits.version', value: VERSION },
    ],
  });
  const err = onnx.ModelProto.verify(modelProto);
  if (err) throw new DigitsError(`ONNX export: internal error building the model proto: ${err}`);
  const bytes = onnx.ModelProto.encode(modelProto).finish();
  return { bytes, ops: g.nodes.map((n) => n.opType!), inputShape: inDims, outputShape: outDims };
}

/** Decode ONNX bytes with the same schema (tests, and a check after writing). */
export function decodeOnnx(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** Load the model folder `modelDir`, export it to `outFile` (written atomically). */
export async function exportOnnx(modelDir: string, outFile: string, opts: OnnxExportOptions = {}): Promise<OnnxExportResult & { metadata: DigitsMetadata }> {
  const { model, metadata } = await loadModel(modelDir);
  const meta = metadata ?? makeMetadata(model);
  const result = toOnnx(model, meta, opts);
  const st = await fs.stat(outFile).catch(() => null);
  if (st !== null && st.isDirectory()) throw new DigitsError(`--out ${outFile}: expected a file name (model.onnx), but it is a folder`);
  await writeFileAtomic(outFile, result.bytes);
  return { ...result, metadata: meta };
}
