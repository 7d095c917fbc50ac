#!/usr/bin/env bash
# The seed preset's training precision: the seed recipe trained in float32 and in bf16 convolutions
# (operands rounded to bfloat16, float32 sums; AMX tiles where the CPU has them, the same rounding in
# AVX-512 elsewhere) for seeds 0-2, and each run's test accuracy. Usage: lab/seed-precision.sh OUT_DIR
# Writes OUT_DIR/<precision>-s<seed>/ (a full run folder each) and prints one line per run.
set -euo pipefail
out="${1:?usage: lab/seed-precision.sh OUT_DIR}"
cd "$(dirname "$0")/.."
mkdir -p "$out"
for precision in fp32 bf16; do
  for seed in 0 1 2; do
    dir="$out/$precision-s$seed"
    [ -f "$dir/metrics.json" ] || node "${DIGITS_DIST:-dist}/src/cli/main.js" train --preset seed --seed "$seed" --precision "$precision" --out "$dir" > "$dir.log" 2>&1
    node -e "const m = require('$(realpath -m "$dir")/metrics.json'); console.log('$precision seed $seed', (100 * m.testAccuracy).toFixed(2) + '%')"
  done
done
