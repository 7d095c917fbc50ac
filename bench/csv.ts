/**
 * CSV parsing speed: writes the 60,000 MNIST training images as a Kaggle
 * train.csv in a temporary folder, parses it with readKaggleCsv three times,
 * prints one JSON object
 *   {"rows":60000,"bytes":…,"seconds":…,"rowsPerSec":…,"mbPerSec":…,"runs":[…],…}
 * where `seconds` is the median run (the machine is shared, so one run is
 * noisy; `runs` lists all three, the first includes JIT warm-up), and
 * removes the file. Run: node dist/bench/csv.js [rows]
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { limit, loadMnist, readKaggleCsv, writeKaggleCsv } from '../src/data/index.js';
import { benchProgram, intArg } from './options.js';

async function main(): Promise<void> {
  const rows = benchProgram('csv', 'CSV parsing speed on the MNIST training images written as train.csv; prints one JSON object')
    .argument('[rows]', 'rows to write and parse', intArg(1), 60000)
    .parse().processedArgs[0] as number;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-csv-bench-'));
  try {
    const file = path.join(dir, 'train.csv');
    let written: number;
    let writeSeconds: number;
    {
      const ds = limit(await loadMnist('train'), rows);
      const w0 = performance.now();
      await writeKaggleCsv(file, ds, { labelled: true });
      writeSeconds = (performance.now() - w0) / 1000;
      written = ds.count;
    }
    const bytes = (await fs.stat(file)).size;
    const runs: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const back = await readKaggleCsv(file, { labelled: true });
      runs.push((performance.now() - t0) / 1000);
      if (back.count !== written) throw new Error(`read ${back.count} rows, wrote ${written}`);
    }
    const seconds = [...runs].sort((a, b) => a - b)[1]!;
    const round3 = (x: number): number => Number(x.toFixed(3));
    console.log(
      JSON.stringify({
        rows: written,
        bytes,
        seconds: round3(seconds),
        rowsPerSec: Math.round(written / seconds),
        mbPerSec: Number((bytes / 1e6 / seconds).toFixed(1)),
        runs: runs.map(round3),
        writeSeconds: round3(writeSeconds),
      }),
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
