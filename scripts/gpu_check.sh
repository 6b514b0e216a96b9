#!/usr/bin/env bash
# One command for a machine with one CUDA GPU (an 80 GB A100/H100): the GPU-marked tests, then the paper-shape bench
# (random-init Dream-Coder-7B + Qwen3-0.6B in bfloat16, 512-token completions, batch 1 and 8), written as ONE JSON file.
# About 8 minutes on one 80 GB GPU (budget; not yet measured on one). Refuses, with exit status 2, where no CUDA GPU is
# visible: nothing here is meaningful on a CPU (`codila bench --shapes paper --scale 0.02 --device cpu` is the CPU path).
#
#   scripts/gpu_check.sh [OUT.json]        (default: gpu_check.json)
#   PYTHON=/path/to/python scripts/gpu_check.sh
set -euo pipefail
OUT="${1:-gpu_check.json}"
PYTHON="${PYTHON:-python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "gpu_check: GPU tests (pytest -m gpu), then codila bench --shapes paper --device cuda --dtype bfloat16 -> $OUT" >&2
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: refused: no CUDA GPU is visible to $PYTHON (torch.cuda.is_available() is False); run it on a GPU machine" >&2
    exit 2
fi
"$PYTHON" -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"gpu_check: {p.name}, {p.total_memory / 2**30:.0f} GB", flush=True)' >&2

cd "$HERE"
started=$(date +%s)
set +e
"$PYTHON" -m pytest -q -m gpu tests/test_gpu.py --junitxml="$WORK/gpu-tests.xml" >&2
tests_status=$?
set -e
"$PYTHON" -m codila.cli bench --shapes paper --device cuda --dtype bfloat16 --length 512 --batch-sizes 1,8 \
    --json "$WORK/bench.jsonl" >&2
"$PYTHON" - "$WORK" "$OUT" "$tests_status" "$started" <<'PY'
import json, sys, time, platform
import xml.etree.ElementTree as ET
import torch
work, out, status, started = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
suite = ET.parse(f"{work}/gpu-tests.xml").getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
tests = [
    {"name": case.get("classname") + "::" + case.get("name"), "seconds": float(case.get("time", 0)),
     "outcome": "failed" if case.find("failure") is not None or case.find("error") is not None
     else "skipped" if case.find("skipped") is not None else "passed"}
    for case in suite.iter("testcase")
]
rows = [json.loads(line) for line in open(f"{work}/bench.jsonl")]
props = torch.cuda.get_device_properties(0)
report = {
    "gpu": props.name, "gpu_memory_gb": props.total_memory / 2**30, "torch": torch.__version__,
    "python": platform.python_version(), "tests_exit_status": status, "tests": tests, "bench": rows,
    "seconds": time.time() - started,
}
open(out, "w").write(json.dumps(report, indent=1) + "\n")
print(f"gpu_check: wrote {out}: {sum(t['outcome'] == 'passed' for t in tests)}/{len(tests)} GPU tests passed, "
      f"{len(rows)} bench rows, {report['seconds']:.0f} s")
sys.exit(1 if status else 0)
PY
