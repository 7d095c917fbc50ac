/** Where the CLI writes: results to stdout, progress, steps and warnings to stderr. */
import type { OnRunEvent } from '../run/index.js';
import { CountProgress, TrainingProgress } from './progress.js';
import { formatSeconds } from '../report/text.js';

/** A line of results on stdout. */
export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** A line of progress on stderr. */
export function info(line: string): void {
  process.stderr.write(line + '\n');
}

/** A warning on stderr, in the CLI's one format. */
export function warn(message: string): void {
  info(`digits: warning: ${message}`);
}

/** A run's events on the terminal: bars (or plain lines off a TTY) for counts and training, lines for steps and warnings. */
export class TerminalEvents {
  private readonly counts = new Map<string, CountProgress>();
  private readonly training = new TrainingProgress();

  readonly onEvent: OnRunEvent = (e) => {
    switch (e.type) {
      case 'count': {
        let bar = this.counts.get(e.label);
        if (bar === undefined) this.counts.set(e.label, (bar = new CountProgress(e.label)));
        bar.update(e.done, e.total);
        break;
      }
      case 'countEnd':
        this.counts.get(e.label)?.stop();
        this.counts.delete(e.label);
        break;
      case 'training': {
        const p = e.progress;
        if (p.type === 'batch') {
          this.training.batch({
            epoch: p.epoch + 1, epochs: p.epochs, batch: p.batch, batches: p.batches,
            loss: p.loss, accuracy: p.accuracy, imagesPerSec: p.imagesPerSecond,
          });
        } else if (p.type === 'epoch') {
          const l = p.logs;
          const parts = [`epoch ${p.epoch + 1}/${p.epochs}`, `loss ${l.loss.toFixed(4)}`, `acc ${l.accuracy.toFixed(4)}`];
          if (l.val_loss !== undefined) parts.push(`val_loss ${l.val_loss.toFixed(4)}`, `val_acc ${l.val_accuracy!.toFixed(4)}`);
          parts.push(formatSeconds(p.seconds), `${Math.round(p.imagesPerSecond).toLocaleString('en-US')} img/s`);
          this.training.epochEnd(parts.join('  '));
        }
        break;
      }
      case 'trained':
        this.training.stop();
        break;
      case 'info':
        info(e.message);
        break;
      case 'warning':
        warn(e.message);
        break;
    }
  };

  /** Ends every bar (before a message that must stand on its own line). */
  stop(): void {
    this.training.stop();
    for (const bar of this.counts.values()) bar.stop();
    this.counts.clear();
  }
}
