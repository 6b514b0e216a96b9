#!/bin/bash
# Time the local AR's paths in turn, each in its own process (CPU time, one thread): the fast path built for this CPU
# (-march=native), built for AVX2 without AVX-512 (-march=haswell), and transformers; twice. Arguments go to
# scripts/time_ar_block.py, e.g. scripts/time_ar_paths.sh --rounds 10 --calls 20
cd "$(dirname "$0")/.."
for round in 1 2; do
  for path in native haswell transformers; do
    echo "== round $round: $path $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$path" = transformers ]; then
      CODILA_FAST_AR=0 python scripts/time_ar_block.py --clock cpu "$@"
    else
      CODILA_FAST_AR_MARCH=$path python scripts/time_ar_block.py --clock cpu "$@"
    fi 2>&1 | grep -v "Loading weights"
  done
done
