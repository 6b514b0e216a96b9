"""`codila bench-serve`: the server under 1 and 8 concurrent clients, on loopback, bounded (it stops by itself).

Each pass sends the same `requests` requests (prompt i mod the list, seed i) through a fresh keep-alive HTTP client per
simulated client; the server batches what arrives together. Passes alternate between concurrencies, so slow phases of a
shared machine hit both alike. Rows: requests/s, completion tokens/s, p50/p99 latency, 5xx and other errors.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx

from codila.errors import CodilaError
from codila.serve.schemas import ServeLimits
from codila.serve.server import MODEL_ID, running_server

PROMPTS = (
    "import os\n",
    "def add(a, b):\n",
    "class Stack:\n    def __init__(self):\n",
    "for i in range(10):\n",
    "def parse(line):\n    parts = line.split(",
    "with open(path) as f:\n",
    'if __name__ == "__main__":\n',
    "try:\n    import json\nexcept ImportError:\n",
    "def __repr__(self):\n    return ",
    "x = [i * i for i in ",
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _one_pass(url: str, requests: int, clients: int, max_tokens: int) -> dict:
    latencies, tokens, statuses = [], [], []
    next_index, lock = iter(range(requests)), threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                body = {"model": MODEL_ID, "prompt": PROMPTS[index % len(PROMPTS)], "max_tokens": max_tokens, "seed": index}
                started = time.perf_counter()
                response = http.post("/completions", json=body)
                elapsed = time.perf_counter() - started
                with lock:
                    statuses.append(response.status_code)
                    latencies.append(elapsed)
                    if response.status_code == 200:
                        tokens.append(response.json()["usage"]["completion_tokens"])

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": requests,
        "seconds": round(wall, 2),
        "requests_per_s": round(requests / wall, 3),
        "tokens_per_s": round(sum(tokens) / wall, 2),
        "completion_tokens": sum(tokens),
        "p50_latency_s": round(_percentile(latencies, 0.5), 3),
        "p99_latency_s": round(_percentile(latencies, 0.99), 3),
        "status_5xx": sum(status >= 500 for status in statuses),
        "errors": sum(status != 200 for status in statuses),
    }


def _steps(url: str) -> tuple[int, int]:
    """(decoding steps, the sum over them of the requests decoding) so far (the server's /health)."""
    health = httpx.get(url.removesuffix("/v1") + "/health").json()
    return health["steps"], health["request_steps"]


def run_bench_serve(
    checkpoints: str | Path,
    requests: int = 200,
    clients: tuple[int, ...] = (1, 8),
    max_tokens: int = 32,
    repeats: int = 1,
    threads: int = 1,
    progress=print,
    max_wait: float = ServeLimits.max_wait,
) -> tuple[list[dict], dict]:
    """Rows (one per pass and concurrency) and a summary: per concurrency the mean tokens/s and, against the first
    concurrency, the mean of the per-pass ratios (passes are paired: they ran back to back), each with its standard
    error over passes (None with one pass)."""
    limits = ServeLimits(
        max_tokens=max(max_tokens, ServeLimits.max_tokens), max_batch=max(clients), max_queued=4 * max(clients), max_wait=max_wait
    )
    rows = []
    with running_server(checkpoints, limits, threads=threads) as url:
        _one_pass(url, min(requests, 2 * max(clients)), max(clients), max_tokens)  # warm-up, not counted
        for repeat in range(repeats):
            for count in clients:
                steps, request_steps = _steps(url)
                row = {"pass": repeat, **_one_pass(url, requests, count, max_tokens)}
                steps_now, request_steps_now = _steps(url)  # mean batch: requests decoding per decoding step
                row["mean_batch_size"] = round((request_steps_now - request_steps) / max(1, steps_now - steps), 2)
                progress(row)
                rows.append(row)
    base = [row["tokens_per_s"] for row in rows if row["clients"] == clients[0]]
    summary = {}
    for count in clients:
        rates = [row["tokens_per_s"] for row in rows if row["clients"] == count]
        ratios = [rate / first for rate, first in zip(rates, base)]
        summary[count] = {
            "tokens_per_s": round(statistics.mean(rates), 2),
            "standard_error": _standard_error(rates, 2),
            "ratio": round(statistics.mean(ratios), 3),
            "ratio_standard_error": _standard_error(ratios, 3),
        }
    return rows, summary


def _standard_error(values: list[float], digits: int) -> float | None:
    return round(statistics.stdev(values) / len(values) ** 0.5, digits) if len(values) > 1 else None


def markdown(rows: list[dict]) -> str:
    header = (
        "| pass | clients | requests | requests/s | tokens/s | p50 latency (s) | p99 latency (s) | mean batch | 5xx | errors |"
    )
    lines = [header, "|" + "---|" * 10]
    lines += [
        f"| {r['pass']} | {r['clients']} | {r['requests']} | {r['requests_per_s']} | {r['tokens_per_s']} | "
        f"{r['p50_latency_s']} | {r['p99_latency_s']} | {r['mean_batch_size']} | {r['status_5xx']} | {r['errors']} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def bench_serve_report(
    checkpoints: str | Path,
    requests: int,
    clients: str,
    max_tokens: int,
    repeats: int,
    json_path: Path | None,
    markdown_path: Path | None,
) -> str:
    """`codila bench-serve`: check the options, run, write the JSON / Markdown files asked for; the table as text."""
    import json

    counts = tuple(int(part) for part in clients.split(",") if part.strip().isdigit())
    if not counts or min(counts) < 1 or len(counts) != len([p for p in clients.split(",") if p.strip()]):
        raise CodilaError(f"--clients takes comma-separated positive integers, got {clients!r}")
    if requests < 1 or max_tokens < 1 or repeats < 1 or requests > 10_000 or max(counts) > 64:
        raise CodilaError("--requests (1..10000), --max-tokens, --repeats must be >= 1 and --clients at most 64")
    rows, summary = run_bench_serve(
        checkpoints,
        requests,
        counts,
        max_tokens,
        repeats,
        progress=lambda row: print(f"pass {row['pass']}, {row['clients']} clients: {row['tokens_per_s']} tokens/s", flush=True),
    )
    if json_path is not None:
        json_path.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    table = markdown(rows)
    if markdown_path is not None:
        markdown_path.write_text(table)
    plus_minus = lambda error: f" +- {error}" if error is not None else ""
    lines = [
        f"{count} clients: {entry['tokens_per_s']}{plus_minus(entry['standard_error'])} tokens/s, "
        f"{entry['ratio']}{plus_minus(entry['ratio_standard_error'])} x the tokens/s of {counts[0]} client(s) in the same pass"
        for count, entry in summary.items()
    ]
    return table + "\n".join(lines)
