"""Serving throughput: ``llm2vec-gen serve`` under 1, 8 and 32 concurrent clients against in-process ``encode``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serve.py      # 8 min: embedded default model, float32, 1 thread
    OMP_NUM_THREADS=1 .venv/bin/python bench/serve.py --dtype bfloat16 --requests 32 --rounds 2

The server runs in a child process on 127.0.0.1 (one model worker with ``--threads`` torch threads, dynamic batching
of up to 32 requests). For each number of clients c, c asyncio clients (httpx, keep-alive) send requests of one query
each, back to back, until the ``--requests`` texts (the same for every c) are answered or ``--max-seconds`` have passed;
requests/s, the p50 and p99 latencies and the mean number of requests the worker encoded together (the server's
``X-Batch-Requests`` header) are reported. In-process, in this process with as many torch threads, ``model.encode``
of the same queries in batches of c is what dynamic batching can reach at best (c = 1: one text at a time, what a lone
client can reach); the ratio is server requests/s over in-process texts/s. In-process and server runs alternate
``--rounds`` times over the same texts, so that both see the same load on a shared machine; the server is idle
(blocked, ~0 % CPU) while the in-process side runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import numpy as np
from _common import load_texts, print_hardware, print_table, time_call

LEVELS = (1, 8, 32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="saved model (default: the embedded default model)")
    parser.add_argument("--requests", type=int, default=64, help="texts (requests) per level, the same for every level")
    parser.add_argument("--max-seconds", type=float, default=90.0, help="per server run: no new request after this")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server's worker and in-process")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "auto"], default="float32",
                        help="backbone dtype on CPU, both sides (ST_LLM2VEC_GEN_CPU_DTYPE)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="alternations of in-process and server per level")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    return parser.parse_args()


async def run_clients(url: str, model: str, texts: list[str], clients: int, max_seconds: float) -> dict:
    """``clients`` concurrent clients sending one text per request until ``texts`` run out or time does."""
    import httpx

    pending = list(reversed(texts))
    latencies: list[float] = []
    batches: list[int] = []
    deadline = time.monotonic() + max_seconds

    async def client(http: httpx.AsyncClient) -> None:
        while pending and time.monotonic() < deadline:
            text = pending.pop()
            start = time.perf_counter()
            response = await http.post(f"{url}/v1/embeddings", json={"model": model, "input": text})
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()
            batches.append(int(response.headers["X-Batch-Requests"]))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "batches": batches, "seconds": elapsed}


def fetch_one(url: str, model: str, text: str) -> list[float]:
    """The server's vector of one text."""
    import httpx

    response = httpx.post(f"{url}/v1/embeddings", json={"model": model, "input": text}, timeout=300)
    return response.json()["data"][0]["embedding"]


def merge(runs: list[dict]) -> dict:
    """Requests/s over all runs, latency percentiles and the mean batch over all their requests."""
    latencies = [x for run in runs for x in run["latencies"]]
    batches = [x for run in runs for x in run["batches"]]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies), "rps": len(latencies) / sum(run["seconds"] for run in runs), "p50": cuts[49],
        "p99": cuts[98], "batch": statistics.fmean(batches),
    }  # fmt: skip


def main() -> None:
    args = parse_args()
    os.environ["ST_LLM2VEC_GEN_CPU_DTYPE"] = args.dtype  # this process's model and the server's (inherited)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL
    from st_llm2vec_gen.serving.model_info import read_model_info
    from st_llm2vec_gen.serving.process import ServerProcess

    torch.set_num_threads(args.threads)
    print_hardware()
    path = args.model or DEFAULT_MODEL
    served_id = f"{read_model_info(path).model_id}:query"
    texts = load_texts("queries", args.requests + 8, seed=0)
    warmup, level = texts[:8], texts[8:]

    options = ["--model", path, "--threads", str(args.threads)]
    with ServerProcess(options, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}) as server:
        print(f"  server ready in {server.wait_ready(args.startup_timeout):.1f} s at {server.url}")
        model = SentenceTransformer(path, trust_remote_code=True)
        print(f"  backbone dtype {model[0].backbone.dtype}, {args.threads} torch thread(s) each side, prompt 'query'")
        model.encode(warmup, prompt_name="query")
        first = asyncio.run(run_clients(server.url, served_id, warmup, 8, args.max_seconds))  # warm-up, not reported
        print(f"  warm-up: {len(first['latencies'])} requests")

        local_vector = model.encode(warmup[:1], prompt_name="query")[0]
        gap = np.abs(np.asarray(fetch_one(server.url, served_id, warmup[0])) - local_vector).max()
        print(f"  server vs in-process vector: max abs difference {gap:.2e}")

        rows = []
        for clients in LEVELS:
            batches = [level[i : i + clients] for i in range(0, len(level), clients)]
            local_seconds, served = 0.0, []
            for _ in range(args.rounds):  # alternately, so that both sides see the same load
                local_seconds += sum(
                    time_call(lambda b=b, n=clients: model.encode(b, batch_size=n, prompt_name="query"))
                    for b in batches
                )
                served.append(asyncio.run(run_clients(server.url, served_id, level, clients, args.max_seconds)))
            local = args.rounds * len(level) / local_seconds
            result = merge(served)
            rows.append([
                clients, result["requests"], result["rps"], result["p50"] * 1000, result["p99"] * 1000,
                result["batch"], local, f"{result['rps'] / local:.2f}",
            ])  # fmt: skip
            print(f"  {clients} client(s): {result['rps']:.2f} requests/s, in-process {local:.2f} texts/s, "
                  f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(f"  server stopped in {server.stop():.1f} s after SIGTERM")
    print_table(
        ["clients", "requests", "server requests/s", "p50 ms", "p99 ms", "mean batch (requests)",
         "in-process texts/s (batch = clients)", "server / in-process"],
        rows, title=f"llm2vec-gen serve against model.encode, {args.dtype}, {args.threads} thread(s)",
    )  # fmt: skip


if __name__ == "__main__":
    main()
