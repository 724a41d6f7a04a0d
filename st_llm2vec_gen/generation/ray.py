"""Generating training answers on Ray Data: the :class:`~.response_file.ResponseFile` of
:func:`~.responses.generate_responses` (``{"id", "query", "response", "truncated"}`` rows, resumable), answered by a
pool of actors.

Two engines: each actor runs our :class:`~.engines.TransformersEngine` (CPU or GPU), or, with vLLM
installed, ``ray.data.llm``'s vLLM processor is given the token ids our :func:`~.engines.chat_prompts`
builds (chat template, thinking disabled, queries cut before templating) and the sampling parameters
:class:`~.engines.VLLMEngine` uses, so every engine answers the same prompts the same way.

The driver appends each batch of rows to the output as it arrives (synced), so an interrupted job keeps what was
answered and a rerun answers only the missing ids. Greedy decoding gives the rows of one-process ``generate``; with
sampling, each batch is seeded with ``seed + its first id`` as there, but Ray may cut batches differently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.output_lock import lock_beside
from ..io.ray_cluster import actor_cpus, actor_pool, actor_threads, check_free, import_ray
from .engines import Generation, GenerationSettings, chat_prompts, vllm_sampling
from .response_file import ResponseFile, response_row, settings_record
from .shards import shard_ids

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

logger = logging.getLogger(__name__)


class RayGenerator:
    """The callable class each actor runs: loads a :class:`~.engines.TransformersEngine` once, then
    answers batch after batch.

    Args:
        backbone: Hub id, local directory, ``.gguf`` file or the embedded backbone.
        settings: :class:`GenerationSettings` as a dict.
        dtype: Backbone dtype (e.g. ``bfloat16`` on GPU); None: the machine's default.
        device: ``cpu`` or ``cuda``.
        threads: Torch threads in the actor.
    """

    def __init__(
        self, backbone: str, settings: dict[str, Any], dtype: str | None, device: str, threads: int | None
    ) -> None:
        import torch

        from .engines import TransformersEngine

        if threads:
            torch.set_num_threads(threads)
        self.engine = TransformersEngine.from_pretrained(backbone, dtype=dtype, device=device)
        self.settings = GenerationSettings(**settings)
        self.decoding = json.dumps(self.engine.model_decoding() if self.settings.use_model_generation_config else {})

    def __call__(self, batch: pa.Table) -> pa.Table:
        """``{id, query, response, truncated, generator, decoding}`` for a batch of ``{id, query}`` rows."""
        import pyarrow as pa

        ids, queries = batch.column("id").to_pylist(), batch.column("query").to_pylist()
        seeded = replace(self.settings, seed=self.settings.seed + min(ids))
        generations = self.engine.answer(queries, seeded)
        return _rows_table(ids, queries, generations, self.engine.name, self.decoding, pa)


def _rows_table(ids: list[int], queries: list[str], generations: list[Generation], name: str, decoding: str, pa):
    if len(generations) != len(ids):
        raise RuntimeError(f"{name} returned {len(generations)} answers to {len(ids)} queries")
    return pa.table({"id": ids, "query": queries, "response": [g.text for g in generations],
                     "truncated": [g.truncated for g in generations], "generator": [name] * len(ids),
                     "decoding": [decoding] * len(ids)})  # fmt: skip


def generate_on_ray(
    backbone: str,
    queries: list[str],
    output_path: str,
    settings: GenerationSettings | None = None,
    shard: tuple[int, int] = (0, 1),
    ids: Iterable[int] | None = None,
    dtype: str | None = None,
    vllm: bool = False,
    actors: int | tuple[int, int] = 2,
    num_cpus: float | None = None,
    num_gpus: float = 0.0,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Answers ``queries`` on Ray, appending response rows to ``output_path`` as ``generate_responses`` does.

    Connect first (:func:`~st_llm2vec_gen.io.ray_cluster.connect` or ``ray.init``).

    Args:
        backbone: The generating LLM; the same path must be readable where the actors run.
        queries: Query texts; a row's ``id`` is the query's index in this list.
        output_path: JSONL file; rows already there are kept and skipped.
        settings: Decoding settings (``batch_size``: queries per actor call).
        shard: ``(index, count)``, as in ``generate_responses``.
        ids: Answer only these query ids.
        dtype: Backbone dtype.
        vllm: Use ``ray.data.llm``'s vLLM processor (needs vLLM and GPUs) instead of Transformers actors.
        actors: Pool size, or ``(min, max)``.
        num_cpus: CPUs per actor (Transformers); None: at most 1, leaving room for Ray's own tasks.
        num_gpus: GPUs per Transformers actor (> 0 generates on ``cuda``); vLLM engines take theirs from
            ``ray.data.llm`` (one per engine at tensor parallel size 1).
        threads: Torch threads per Transformers actor; None: ``max(1, int(num_cpus))`` on CPU.

    Returns:
        All rows of this shard, in id order.

    Raises:
        ValueError: As ``generate_responses``: bad shard or ids, an output of other queries or settings; a pool
            that does not fit the cluster's free CPUs.
        OutputLockedError: If another live process is writing ``output_path``.
    """
    ray = import_ray()
    settings = settings or GenerationSettings()
    todo_ids = shard_ids(len(queries), shard, ids)
    with lock_beside(output_path):  # one writer per output file
        file = ResponseFile(output_path, queries)
        file.resume()
        todo = file.todo(todo_ids)
        logger.info("%d of %d queries already answered in %s", len(todo_ids) - len(todo), len(todo_ids), output_path)
        if not todo:
            return file.rows_of(todo_ids)
        items = ray.data.from_items([{"id": i, "query": queries[i]} for i in todo])
        if vllm:
            answered = _vllm_answers(items, backbone, settings, dtype, actors)
        else:
            num_cpus = actor_cpus(ray, actors, num_cpus)
            check_free(ray, actors, num_cpus, num_gpus)
            blocks = items.repartition(target_num_rows_per_block=settings.batch_size)
            kwargs = {"backbone": backbone, "settings": asdict(settings), "dtype": dtype,
                      "device": "cuda" if num_gpus > 0 else "cpu",
                      "threads": actor_threads(threads, num_cpus, num_gpus)}  # fmt: skip
            answered = blocks.map_batches(
                RayGenerator, fn_constructor_kwargs=kwargs, batch_size=settings.batch_size, batch_format="pyarrow",
                compute=actor_pool(ray, actors), num_cpus=num_cpus, num_gpus=num_gpus,
            )  # fmt: skip
        _append_answers(file, answered, settings)
        missing = file.todo(todo_ids)
        if missing:
            raise RuntimeError(f"Ray returned no answer to {len(missing)} queries (first id {missing[0]}): rerun")
        return file.rows_of(todo_ids)


def _append_answers(file: ResponseFile, answered: ray.data.Dataset, settings: GenerationSettings) -> None:
    """Appends each batch of rows to ``file`` as it arrives; the settings are checked against the file's when the
    first one does (the record needs the generator's name, which the actors know)."""
    for batch in answered.iter_batches(batch_format="pyarrow", batch_size=None):
        if not batch.num_rows:
            continue
        answers = batch.to_pylist()
        if file.record is None:
            first = answers[0]
            file.check_settings(settings_record(settings, first["generator"], partial(json.loads, first["decoding"])))
        rows = [response_row(r["id"], r["query"], Generation(r["response"], r["truncated"])) for r in answers]
        file.append(sorted(rows, key=lambda row: row["id"]))


def _vllm_answers(
    items: ray.data.Dataset,
    backbone: str,
    settings: GenerationSettings,
    dtype: str | None,
    actors: int | tuple[int, int],
) -> ray.data.Dataset:
    """``ray.data.llm``'s vLLM processor over ``items``, given our prompts as token ids and VLLMEngine's sampling."""
    try:
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig
    except ImportError as error:
        raise ImportError("--engine ray-vllm needs ray.data.llm and vLLM: pip install 'ray[llm]' vllm") from error
    if settings.use_model_generation_config:
        raise ValueError("use_model_generation_config is not supported with ray-vllm: use --engine ray or vllm")
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(backbone)  # the tokenizer only: prompts are built here, once
    try:
        eos = GenerationConfig.from_pretrained(backbone).eos_token_id
    except OSError:
        eos = None
    eos = set(eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id])
    name = f"vllm:{Path(backbone).name}"
    sampling = vllm_sampling(settings)

    def with_prompt(batch: dict[str, Any]) -> dict[str, Any]:
        texts = chat_prompts(tokenizer, list(batch["query"]), settings.max_query_length)
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]  # the template carries its own
        return {**batch, "tokenized_prompt": ids}

    def postprocess(row: dict[str, Any]) -> dict[str, Any]:
        tokens = list(row["generated_tokens"])
        return {"id": row["id"], "query": row["query"], "response": row["generated_text"].strip(),
                "truncated": not (tokens and tokens[-1] in eos), "generator": name, "decoding": "{}"}  # fmt: skip

    config = vLLMEngineProcessorConfig(
        model_source=backbone,
        engine_kwargs={"dtype": dtype} if dtype else {},
        batch_size=settings.batch_size,
        concurrency=actors,
        chat_template_stage=False,  # templated and tokenized above, exactly as VLLMEngine does
        tokenize_stage=False,
        detokenize_stage=True,
    )
    processor = build_processor(config, preprocess=lambda row: {**row, "sampling_params": sampling},
                                postprocess=postprocess)  # fmt: skip
    return processor(items.map_batches(with_prompt))
