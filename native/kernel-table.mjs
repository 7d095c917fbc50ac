// `npm run kernels`: writes native/kernel_table.h from the kernel table (src/engine/kernels.ts, built
// into dist/ first), so that the addon's bindings find each argument where the TypeScript side packs it.
import { writeFileSync } from 'node:fs';
import { cppKernelTable } from '../dist/src/engine/kernels.js';

const file = new URL('./kernel_table.h', import.meta.url);
writeFileSync(file, cppKernelTable());
console.log(`wrote ${file.pathname}`);
