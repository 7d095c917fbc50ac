/**
 * What a run reports while it works. The run layer never prints: it hands
 * these to the `onEvent` its caller gives, and the CLI turns them into
 * progress bars and lines on stderr, a server into logs, a test into asserts.
 */
import type { ProgressEvent } from '../nn/index.js';

/** What a run reports while it works (see the module comment). */
export type RunEvent =
  /** a long count (rows read, images predicted): `done` of `total` so far */
  | { type: 'count'; label: string; done: number; /** null: not known beforehand (rows of a file being read) */ total: number | null }
  /** the count named `label` is over */
  | { type: 'countEnd'; label: string }
  /** training's own progress: per batch and per epoch, with images/s */
  | { type: 'training'; progress: ProgressEvent }
  /** training is over (fit, and the preset's passes after it); evaluation and the run's files follow */
  | { type: 'trained' }
  /** a step of the run worth a line: what it trains, where it resumes, a pass it made */
  | { type: 'info'; message: string }
  /** something the user should know that does not stop the run */
  | { type: 'warning'; message: string };

/** Where a run sends its events. */
export type OnRunEvent = (event: RunEvent) => void;

/** Drops every event. */
export const ignoreEvents: OnRunEvent = () => {};

/**
 * What a run does with its events when its caller gives no `onEvent`: each warning (a native backend
 * that could not be loaded, a report that could not be written) is one line on stderr, and everything
 * else is dropped. A caller that passes `onEvent` gets every event and nothing is written.
 */
export const warnOnStderr: OnRunEvent = (e) => {
  if (e.type === 'warning') process.stderr.write(`digits: warning: ${e.message}\n`);
};
