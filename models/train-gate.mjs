// `npm run gate`: trains the digit gate the package ships (models/gate) from MNIST and generated
// outliers (src/run/gate.ts), and prints what it measured on digits and outliers it did not train on.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend, trainGate } from '../dist/src/index.js';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'gate');
const { backend } = createBackend('auto');
const result = await trainGate({ out, backend }, (e) => { if (e.type === 'info' || e.type === 'warning') console.error(e.message); });
console.log(JSON.stringify({ out, backend: backend.name, ...result }, null, 2));
