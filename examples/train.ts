/**
 * Train a small model on part of MNIST and save it, Keras-style.
 *
 *   node dist/examples/train.js OUT_DIR [IMAGES]
 *
 * Builds the `fast` preset's network by hand (two conv blocks, a dense layer, softmax), trains it for
 * one epoch on the first IMAGES (default 3,000) MNIST training images, evaluates it on 1,000 test
 * images and saves it as a TensorFlow.js layers-model that `digits`, TF.js and the other examples load.
 */
import {
  Activation, Adam, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D, Sequential, createBackend, datasetToTensors, loadMnist,
  makeMetadata, saveModel,
} from 'digits';

const [out, images = '3000'] = process.argv.slice(2);
if (out === undefined) {
  console.error('usage: node dist/examples/train.js OUT_DIR [IMAGES]');
  process.exit(2);
}

const model = new Sequential({
  layers: [
    new Conv2D({ filters: 12, kernelSize: 3, padding: 'same', useBias: false, inputShape: [28, 28, 1] }),
    new MaxPooling2D({ poolSize: 2 }),
    new BatchNormalization({ momentum: 0.9 }),
    new Activation({ activation: 'relu' }),
    new Conv2D({ filters: 24, kernelSize: 3, padding: 'same', useBias: false }),
    new MaxPooling2D({ poolSize: 2 }),
    new BatchNormalization({ momentum: 0.9 }),
    new Activation({ activation: 'relu' }),
    new Flatten(),
    new Dense({ units: 128, activation: 'relu' }),
    new Dense({ units: 10, activation: 'softmax' }),
  ],
});
// the native kernels where they are built, else the reference backend (its warning says how to build them)
const { backend, warning } = createBackend('auto');
if (warning !== undefined) console.error(`warning: ${warning}`);
model.setBackend(backend);
model.compile({ optimizer: new Adam({ learningRate: 0.003 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

const train = datasetToTensors(await loadMnist('train', { limit: Number(images) }));
const test = datasetToTensors(await loadMnist('test', { limit: 1000 }));
const history = await model.fit(train.x, train.y!, { epochs: 1, batchSize: 64, validationSplit: 0.1, seed: 0 });
const { accuracy } = model.evaluate(test.x, test.y!);

await saveModel(model, out, makeMetadata(model, { testAccuracy: accuracy }));
console.log(`trained on ${train.x.shape[0]} images: validation accuracy ${(history.history.val_accuracy!.at(-1)! * 100).toFixed(1)}%, ` +
  `test accuracy ${(accuracy * 100).toFixed(1)}% on 1,000 images; saved to ${out}`);
