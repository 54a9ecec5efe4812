#!/usr/bin/env bash
# Assemble benchmarks/RESULTS.md from the per-issue result files that each benchmark script writes.
set -euo pipefail
cd "$(dirname "$0")"
{
  echo "# Benchmark results"
  echo
  echo "Latest figures of every benchmark, each next to a reference measured in the same run (the machines are"
  echo "shared and noisy, so ratios matter more than absolute numbers). Each section names the command that made it."
  echo "Per-issue files live in \`benchmarks/results/\`; this file is assembled from them by \`benchmarks/make_results.sh\`."
  for f in store devices agents fjsp fjsp-all-sets constraints ui ui-open-part ui-rotate parts telemetry sites control connectors hostile learning api energy startup package catalogue; do
    [ -f "results/$f.md" ] || continue
    echo
    sed 's/^# /## /' "results/$f.md"
  done
} > RESULTS.md
