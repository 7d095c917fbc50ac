#!/usr/bin/env node
/**
 * The `digits` command: a thin face over the run layer (src/run). Each
 * command is a file of src/cli/commands/, named for it, whose `register`
 * adds it to the program; every command has --help, and bad input ends with
 * one clear message and exit code 1.
 */
import { Command, CommanderError } from 'commander';
import { DigitsError, Interrupted } from '../errors.js';
import { VERSION } from '../version.js';
import * as train from './commands/train.js';
import * as evaluate from './commands/evaluate.js';
import * as predict from './commands/predict.js';
import * as read from './commands/read.js';
import * as prepare from './commands/prepare.js';
import * as score from './commands/score.js';
import * as summary from './commands/summary.js';
import * as bench from './commands/bench.js';
import * as serve from './commands/serve.js';
import * as exportCommand from './commands/export.js';
import * as importCommand from './commands/import.js';
import * as ensemble from './commands/ensemble.js';
import * as report from './commands/report.js';

/** The commands in the order --help lists them. */
const COMMANDS: readonly { register(program: Command): void }[] = [
  train, evaluate, predict, read, prepare, score, summary, bench, serve, exportCommand, importCommand, ensemble, report,
];

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('digits')
    .description('Handwritten-digit recognizer: train a CNN on MNIST or Kaggle CSVs, evaluate it, predict, and serve it.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false });
  for (const c of COMMANDS) c.register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help / version)
      return err.exitCode === 0 ? 0 : 1;
    }
    if (err instanceof Interrupted) {
      process.stderr.write(`digits: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof DigitsError) {
      process.stderr.write(`digits: error: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && e.path) {
      const what = e.code === 'ENOENT' ? 'no such file or folder' : e.code === 'EACCES' ? 'permission denied' : e.code;
      process.stderr.write(`digits: error: ${e.path}: ${what}\n`);
      return 1;
    }
    process.stderr.write(`digits: internal error (please report): ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

// A reader that stops early (`digits summary | head`) closes the pipe: stop quietly, as Unix tools do,
// rather than die with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
