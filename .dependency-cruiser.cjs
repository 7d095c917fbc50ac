/**
 * The layering of Digits (docs/architecture.md), checked in CI by `npm run lint:layers`:
 * engine <- nn <- io <- run <- faces (cli, server, report). Data flows one way; nothing imports the CLI.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycle anywhere: a cycle means two modules are one.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'engine-imports-nothing-above-it',
      severity: 'error',
      comment: 'The engine (tensors, kernels, backends) knows nothing of layers, data, files or faces.',
      from: { path: '^src/engine/' },
      to: { path: '^src/(nn|data|preprocess|io|run|report|cli|server)/' },
    },
    {
      name: 'nn-stays-a-model-library',
      severity: 'error',
      comment: 'nn (layers, models, training) reads no data files and knows no model files, runs or faces.',
      from: { path: '^src/nn/' },
      to: { path: '^src/(data/(?!dataset)|preprocess|io|run|report|cli|server)' },
    },
    {
      name: 'io-and-data-below-run',
      severity: 'error',
      comment: 'Data readers and model files serve runs; they do not call them.',
      from: { path: '^src/(data|preprocess|io)/' },
      to: { path: '^src/(run|report|cli|server)/' },
    },
    {
      name: 'report-renders-only',
      comment: 'The report draws what it is given (metrics, figures, HTML); it runs nothing and serves no face.',
      severity: 'error',
      from: { path: '^src/report/' },
      to: { path: '^src/(run|cli|server)/' },
    },
    {
      name: 'run-below-the-faces',
      severity: 'error',
      comment: 'The run layer is called by the faces, never the other way round.',
      from: { path: '^src/run/' },
      to: { path: '^src/(cli|server)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'The CLI is a face: nothing outside src/cli imports from it.',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'nothing-imports-the-pages',
      severity: 'error',
      comment: 'src/web is the browser face (bundled by web/build.mjs, which refuses any Node import it reaches): nothing imports it.',
      from: { pathNot: '^src/web/' },
      to: { path: '^src/web/' },
    },
    {
      name: 'pages-run-no-run-layer',
      severity: 'error',
      comment: 'The pages use the engine, nn and the file-free readers (model-format, idx-format, pixels) directly; runs, files and servers are Node\'s.',
      from: { path: '^src/web/' },
      to: { path: '^src/(run|cli|server|report)/' },
    },
    {
      name: 'product-ignores-the-lab',
      severity: 'error',
      comment: 'Research scripts live in lab/; nothing in src/, bench/, test/ or examples/ depends on them.',
      from: { path: '^(src|bench|test|examples)/' },
      to: { path: '^lab/' },
    },
    {
      name: 'src-imports-no-tests-or-benches',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|examples)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|build|node_modules)/' },
  },
};
