/**
 * Digits' HTTP server as a library (`digits/server`): the drawing page and the prediction API
 * over a saved model. Apart from the main entry so that a library user who only predicts does
 * not load the HTTP stack.
 *
 * @packageDocumentation
 */
export { startServer, DEFAULT_MODEL_DIR, type ServeOptions } from './start.js';
export { buildServer, SERVER_LIMITS, PREDICT_BODY_LIMIT, BATCH_BODY_LIMIT, type ServerOptions, type ServerLimits } from './app.js';
