/**
 * Exports an {@link MlpModel} as an ONNX model (opset 13) whose dropout stays active at inference, for
 * Monte Carlo dropout in ONNX Runtime.
 *
 * The ModelProto is built with `onnx-proto`, the protobufjs code generated from ONNX's own onnx.proto
 * (ONNX v1.10.2, IR version 8). We chose it over hand-writing onnx.proto for protobufjs because it is the
 * onnx.proto schema with typed message classes, published on the npm registry and used by about 1.5 million
 * downloads a week. NOTE: onnx-proto 8.0.1 pins protobufjs 6.11 and stops at ONNX 1.10 (opset 15); this
 * export needs nothing newer.
 *
 * Graph: features → Sub(mean) → Div(scale) → [MatMul → Add → Relu → Dropout]* → MatMul → Add → Sigmoid →
 * probability. All tensors are double, so the graph matches the TypeScript forward pass to rounding error.
 *
 * How dropout stays active: the default mode `random-mask` builds the mask from ordinary operators,
 * mask = Cast(Less(RandomUniformLike(h), 1 − rate)) and h' = h · mask / (1 − rate), which no graph optimizer
 * may remove because RandomUniformLike is not deterministic. The mode `onnx-dropout` uses the ONNX Dropout
 * operator with `training_mode = true` (https://onnx.ai/onnx/operators/onnx__Dropout.html). The spec keeps it
 * random, but onnxruntime-node 1.30.0 removes it at graphOptimizationLevel 'basic' and above (its
 * EliminateDropout rewrite ignores training_mode), so every pass returns the same value. The tests show both.
 */
import onnxProto from 'onnx-proto';
import type { MlpModel } from './mlp.js';

const { onnx } = onnxProto;

/** ONNX operator set version of the exported graph. Dropout's training_mode input exists from opset 12. */
export const SURROGATE_OPSET = 13;

/** Name of the graph input, a double tensor [batch, features]. */
export const SURROGATE_INPUT_NAME = 'features';

/** Name of the graph output, a double tensor [batch, 1] of probabilities. */
export const SURROGATE_OUTPUT_NAME = 'probability';

/** Dropout mode of the exported graph at inference. */
export type DropoutExport =
  /** Masks from RandomUniformLike: every row of every run draws a new mask, at any optimization level. */
  | 'random-mask'
  /** ONNX Dropout nodes with training_mode = true; ONNX Runtime removes them unless optimizations are off. */
  | 'onnx-dropout'
  /** No Dropout nodes: the deterministic network, as for ordinary inference. */
  | 'off';

/** Options of {@link exportMlpToOnnx}. */
export interface OnnxExportOptions {
  dropout: DropoutExport;
  /** Stored in metadata_props; keys and values are strings. */
  metadata: Record<string, string>;
  /** Feature names, in input column order; stored in the input's doc string and the metadata. */
  featureNames: readonly string[];
}

/**
 * Serialises the network to ONNX ModelProto bytes.
 * @param model - The trained network.
 * @param options - Dropout mode, metadata and feature names.
 * @returns The protobuf bytes of the model.
 * @throws RangeError when the feature names do not match the network's input size.
 */
export function exportMlpToOnnx(model: MlpModel, options: OnnxExportOptions): Uint8Array {
  const inputSize = model.normalization.mean.length;
  if (options.featureNames.length !== inputSize) {
    throw new RangeError(
      `Invalid feature names: ${String(options.featureNames.length)} given for a network with ${String(inputSize)} inputs.`
    );
  }

  const initializers: InstanceType<typeof onnx.TensorProto>[] = [
    doubleTensor('norm_mean', [inputSize], model.normalization.mean),
    doubleTensor('norm_scale', [inputSize], model.normalization.scale),
  ];
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [
    node('Sub', [SURROGATE_INPUT_NAME, 'norm_mean'], ['centered'], 'normalize_center'),
    node('Div', ['centered', 'norm_scale'], ['normalized'], 'normalize_scale'),
  ];

  const dropout = model.dropoutRate > 0 ? options.dropout : 'off';
  const keepProbability = 1 - model.dropoutRate;
  if (dropout === 'onnx-dropout') {
    initializers.push(doubleTensor('dropout_ratio', [], new Float64Array([model.dropoutRate])));
    initializers.push(
      onnx.TensorProto.create({
        name: 'dropout_training_mode',
        dims: [],
        dataType: onnx.TensorProto.DataType.BOOL,
        int32Data: [1],
      })
    );
  } else if (dropout === 'random-mask') {
    initializers.push(doubleTensor('keep_probability', [], new Float64Array([keepProbability])));
    initializers.push(doubleTensor('keep_scale', [], new Float64Array([1 / keepProbability])));
  }

  let current = 'normalized';
  for (const [index, layer] of model.layers.entries()) {
    const isOutput = index === model.layers.length - 1;
    initializers.push(doubleTensor(`w${String(index)}`, [layer.inputSize, layer.outputSize], layer.weights));
    initializers.push(doubleTensor(`b${String(index)}`, [layer.outputSize], layer.bias));
    nodes.push(
      node('MatMul', [current, `w${String(index)}`], [`matmul${String(index)}`], `matmul${String(index)}`)
    );
    nodes.push(
      node(
        'Add',
        [`matmul${String(index)}`, `b${String(index)}`],
        [`dense${String(index)}`],
        `add${String(index)}`
      )
    );

    if (isOutput) {
      nodes.push(node('Sigmoid', [`dense${String(index)}`], [SURROGATE_OUTPUT_NAME], 'sigmoid'));
      break;
    }
    nodes.push(node('Relu', [`dense${String(index)}`], [`relu${String(index)}`], `relu${String(index)}`));
    current = `relu${String(index)}`;
    if (dropout === 'onnx-dropout') {
      nodes.push(
        node(
          'Dropout',
          [current, 'dropout_ratio', 'dropout_training_mode'],
          [`dropout${String(index)}`],
          `dropout${String(index)}`
        )
      );
      current = `dropout${String(index)}`;
    } else if (dropout === 'random-mask') {
      nodes.push(...randomMaskNodes(current, index));
      current = `dropout${String(index)}`;
    }
  }

  const graph = onnx.GraphProto.create({
    name: 'monitormed_surrogate',
    node: nodes,
    initializer: initializers,
    input: [
      valueInfo(
        SURROGATE_INPUT_NAME,
        inputSize,
        `Raw features in this order: ${options.featureNames.join(', ')}`
      ),
    ],
    output: [valueInfo(SURROGATE_OUTPUT_NAME, 1, 'Probability of the positive class per row')],
  });

  const metadata = { ...options.metadata, featureNames: JSON.stringify(options.featureNames) };
  const modelProto = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'monitormed-analyzers',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: SURROGATE_OPSET }],
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(modelProto).finish();
}

/**
 * Reads the metadata_props of ONNX model bytes.
 * @param bytes - A serialised ModelProto.
 * @returns The key-value pairs.
 */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const decoded = onnx.ModelProto.decode(bytes);
  const metadata: Record<string, string> = {};
  for (const entry of decoded.metadataProps) {
    if (typeof entry.key === 'string' && typeof entry.value === 'string') {
      metadata[entry.key] = entry.value;
    }
  }
  return metadata;
}

/** Builds inverted dropout from a uniform draw per unit, as {@link forward} in mlp.ts computes it. */
function randomMaskNodes(input: string, index: number): InstanceType<typeof onnx.NodeProto>[] {
  const suffix = String(index);
  const uniform = node('RandomUniformLike', [input], [`uniform${suffix}`], `uniform${suffix}`);
  uniform.attribute.push(
    onnx.AttributeProto.create({
      name: 'dtype',
      type: onnx.AttributeProto.AttributeType.INT,
      i: onnx.TensorProto.DataType.DOUBLE,
    })
  );
  const cast = node('Cast', [`keep${suffix}`], [`mask${suffix}`], `mask${suffix}`);
  cast.attribute.push(
    onnx.AttributeProto.create({
      name: 'to',
      type: onnx.AttributeProto.AttributeType.INT,
      i: onnx.TensorProto.DataType.DOUBLE,
    })
  );
  return [
    uniform,
    node('Less', [`uniform${suffix}`, 'keep_probability'], [`keep${suffix}`], `keep${suffix}`),
    cast,
    node('Mul', [input, `mask${suffix}`], [`masked${suffix}`], `masked${suffix}`),
    node('Mul', [`masked${suffix}`, 'keep_scale'], [`dropout${suffix}`], `dropout${suffix}`),
  ];
}

function doubleTensor(
  name: string,
  dims: number[],
  values: Float64Array
): InstanceType<typeof onnx.TensorProto> {
  // raw_data is little-endian; Float64Array uses the platform order, which is little-endian on x86 and ARM.
  const raw = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.DOUBLE, rawData: raw });
}

function node(
  opType: string,
  input: string[],
  output: string[],
  name: string
): InstanceType<typeof onnx.NodeProto> {
  return onnx.NodeProto.create({ opType, input, output, name });
}

function valueInfo(
  name: string,
  columns: number,
  docString: string
): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    docString,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.DOUBLE,
        shape: { dim: [{ dimParam: 'batch' }, { dimValue: columns }] },
      },
    },
  });
}
