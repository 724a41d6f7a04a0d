"""Ray Data encoding against one process: texts/s, Ray's start-up and per-batch overhead, memory per actor.

    .venv/bin/python bench/ray_encode.py                          # the embedded default model, 256 queries, batch 16
    .venv/bin/python bench/ray_encode.py --num-texts 512 --actors 2 --model my-model

On the same texts in the same run: ``model.encode`` in this process with ``--actors`` torch threads, then
``encode_ray_dataset`` on a fresh local cluster with ``--actors`` actors of one torch thread each (half a Ray CPU
each, so that Ray's read tasks still fit on a 2-core machine), then the single process again (the two one-process
rounds bracket the Ray run, so a change of load on a shared machine shows up as their spread).

Reported: texts/s end to end (Ray: from ``ray.init`` to the last vector, actors' model loading included) and steady
(Ray: from the first batch any actor starts to the last it ends); ``ray.init`` time; time to the first vector; Ray's
per-batch overhead: the time actors sit idle between their batches; the same batches through actors that do no work
(mostly the start of their worker processes); each actor's model loading time and peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from _common import load_texts, median, print_hardware, print_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="saved LLM2Vec-Gen model (default: the embedded one)")
    parser.add_argument("--num-texts", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--actors", type=int, default=2, help="actors (one thread each) = threads of the process")
    parser.add_argument("--prompt", default="query")
    return parser.parse_args()


def instrumented_encoder():
    """A RayEncoder that also returns, per batch, its start/end times, the actor's pid, load time and peak RSS."""
    from st_llm2vec_gen.corpus.ray_encoding import RayEncoder

    class Timed(RayEncoder):
        def __init__(self, *args, **kwargs) -> None:
            start = time.time()
            super().__init__(*args, **kwargs)
            self.load_s = time.time() - start

        def __call__(self, batch):
            start = time.time()
            table = super().__call__(batch)
            end, n = time.time(), table.num_rows
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
            for name, value in (("start", start), ("end", end), ("pid", os.getpid()), ("load_s", self.load_s),
                                ("peak_mib", peak)):  # fmt: skip
                table = table.append_column(name, [[value] * n])
            return table

    return Timed


class NoWork:
    """An actor that returns its batch's ids: Ray's own cost per batch."""

    def __call__(self, batch):
        return {"id": batch["id"]}


def one_process(model, texts: list[str], args: argparse.Namespace) -> float:
    start = time.perf_counter()
    model.encode(texts, prompt_name=args.prompt or None, batch_size=args.batch_size, show_progress_bar=False)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    args = parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    from st_llm2vec_gen import DEFAULT_MODEL

    path = args.model or str(DEFAULT_MODEL)
    torch.set_num_threads(args.actors)
    print_hardware()
    texts = load_texts("queries", args.num_texts)
    model = SentenceTransformer(path, trust_remote_code=True, device="cpu")
    print(f"  backbone dtype: {model[0].backbone.dtype}, texts: {len(texts)}, batch {args.batch_size}")
    model.encode(texts[: args.batch_size], prompt_name=args.prompt or None)  # warm-up
    single = [one_process(model, texts, args)]

    import ray

    from st_llm2vec_gen.corpus.ray_encoding import encode_ray_dataset

    start = time.time()
    ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False)
    init_s = time.time() - start
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    pool = {"actors": args.actors, "num_cpus": 0.5, "threads": 1, "batch_size": args.batch_size,
            "block_rows": args.batch_size}  # fmt: skip
    encoded = encode_ray_dataset(items, path, "id", prompt_name=args.prompt or None,
                                 encoder=instrumented_encoder(), **pool)  # fmt: skip
    first, rows = None, []
    for batch in encoded.iter_batches(batch_format="pyarrow", batch_size=None):
        first = first or time.time()
        rows += batch.drop_columns(["embedding"]).to_pylist()
    end = time.time()
    assert sorted(r["id"] for r in rows) == list(range(len(texts)))
    steady = len(texts) / (max(r["end"] for r in rows) - min(r["start"] for r in rows))
    end_to_end = len(texts) / (end - start)

    batches = -(-len(texts) // args.batch_size)
    noop_start = time.time()
    noop = items.repartition(target_num_rows_per_block=args.batch_size).map_batches(
        NoWork, batch_size=args.batch_size, compute=ray.data.ActorPoolStrategy(size=args.actors), num_cpus=0.5
    )
    assert noop.count() == len(texts)
    noop_s = time.time() - noop_start
    ray.shutdown()
    single.append(one_process(model, texts, args))

    one = median(single)
    print_table(
        ["engine", "texts/s end to end", "texts/s steady", "ratio (steady) to one process"],
        [[f"one process, {args.actors} threads", f"{one:.1f} ({min(single):.1f}-{max(single):.1f})", "", "1.00"],
         [f"Ray, {args.actors} actors x 1 thread", f"{end_to_end:.1f}", f"{steady:.1f}", f"{steady / one:.2f}"]],
        title="Encoding the same texts",
    )  # fmt: skip
    actors = {}
    for r in rows:
        actors.setdefault(r["pid"], r)
    print_table(
        ["actor pid", "model load s", "peak RSS MiB", "batches"],
        [[pid, f"{r['load_s']:.1f}", f"{max(x['peak_mib'] for x in rows if x['pid'] == pid):.0f}",
          len({x['start'] for x in rows if x['pid'] == pid})] for pid, r in actors.items()],
        title="Actors",
    )  # fmt: skip
    idle = 0.0  # per actor: time between its first start and last end not spent in __call__
    for pid in actors:
        mine = [x for x in rows if x["pid"] == pid]
        calls = {(x["start"], x["end"]) for x in mine}
        idle += max(e for _, e in calls) - min(s for s, _ in calls) - sum(e - s for s, e in calls)
    print_table(
        ["ray.init s", "first vector after s", "actor idle per batch ms", "no-op pipeline s"],
        [[f"{init_s:.1f}", f"{first - start:.1f}", f"{1000 * idle / batches:.0f}", f"{noop_s:.1f}"]],
        title=f"Ray overhead ({batches} batches; no-op: the same batches through actors that do nothing, "
        "the start of their worker processes included)",
    )  # fmt: skip


if __name__ == "__main__":
    main()
