/**
 * Terminal progress for training and prediction. On a TTY: a live bar
 * (cli-progress) with loss, accuracy, images/s and ETA; otherwise plain lines
 * at about every 10% of an epoch so that CI logs stay readable.
 */
import cliProgress from 'cli-progress';

export interface EpochProgress {
  epoch: number; // 1-based
  epochs: number;
  batch: number; // 1-based, batches done
  batches: number;
  loss: number;
  accuracy: number;
  imagesPerSec: number;
}

export class TrainingProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastLine = 0;
  private readonly tty: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI;
  }

  batch(p: EpochProgress): void {
    const payload = {
      ep: `${p.epoch}/${p.epochs}`,
      loss: p.loss.toFixed(4),
      acc: p.accuracy.toFixed(4),
      ips: Math.round(p.imagesPerSec).toLocaleString('en-US'),
    };
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            format: 'epoch {ep} {bar} {value}/{total} | loss {loss} acc {acc} | {ips} img/s | ETA {eta_formatted}',
            stream: this.stream,
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(p.batches, 0, payload);
      }
      this.bar.update(p.batch, payload);
      return;
    }
    const step = Math.max(1, Math.floor(p.batches / 10));
    if (p.batch === p.batches || p.batch - this.lastLine >= step) {
      this.lastLine = p.batch;
      this.stream.write(
        `epoch ${payload.ep} batch ${p.batch}/${p.batches} loss ${payload.loss} acc ${payload.acc} ${payload.ips} img/s\n`,
      );
    }
  }

  /** Ends the epoch's bar and prints its summary line. */
  epochEnd(line: string): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    this.lastLine = 0;
    this.stream.write(line + '\n');
  }

  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}

/** A simple counter bar for long reads and predictions. */
/** Rows between two lines of a count with no known end, when the output is not a terminal. */
const ROWS_SHOWN_EVERY = 10_000;

export class CountProgress {
  private bar: cliProgress.SingleBar | null = null;
  private last = 0;
  /** a count of unknown end is on the terminal's current line */
  private open = false;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI;
  }

  update(done: number, total: number | null): void {
    if (total === null) { // a count with no known end: the number so far, every ROWS_SHOWN_EVERY on a log
      if (this.tty) this.stream.write(`\r${this.label}: ${done.toLocaleString('en-US')}`);
      else if (done - this.last >= ROWS_SHOWN_EVERY) this.stream.write(`${this.label}: ${(this.last = done).toLocaleString('en-US')}\n`);
      this.open = this.tty;
      return;
    }
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: `${this.label} {bar} {value}/{total} | ETA {eta_formatted}`, stream: this.stream, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total, 0);
      }
      this.bar.setTotal(total);
      this.bar.update(done);
      return;
    }
    const step = Math.max(1, Math.floor(total / 4));
    if (done === total || done - this.last >= step) {
      this.last = done;
      this.stream.write(`${this.label}: ${done}/${total}\n`);
    }
  }

  stop(): void {
    if (this.open) this.stream.write('\n');
    this.open = false;
    this.bar?.stop();
    this.bar = null;
  }
}
