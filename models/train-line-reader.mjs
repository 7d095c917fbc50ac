// `npm run line-reader`: trains the line reader the package ships (models/line-reader) on numbers
// composed of MNIST training digits (src/run/line-reader.ts), and prints what it measured on numbers
// of training digits it did not learn from.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend, trainLineReader } from '../dist/src/index.js';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'line-reader');
const { backend } = createBackend('auto');
const result = await trainLineReader({ out, backend }, (e) => { if (e.type === 'info' || e.type === 'warning') console.error(e.message); });
console.log(JSON.stringify({ out, backend: backend.name, ...result }, null, 2));
