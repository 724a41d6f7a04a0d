"""The ``llm2vec-gen`` command: generate, train, encode, decode, convert, evaluate and serve, thin over the library.

Exit codes: 0 success, 1 a problem with the input (message on stderr, no stack trace), 2 bad command-line usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, fields

from ..io.prompts import check_prompt_name
from .options import add_options, devices, positive_int, shard

logger = logging.getLogger("st_llm2vec_gen")


def _generate(args: argparse.Namespace) -> None:
    from ..generation.engines import GenerationSettings
    from ..generation.run import EngineChoice, generate
    from ..io.records import read_queries

    queries = read_queries(args.queries, column=args.column)[: args.limit]  # checked before loading any model
    ids = _ids_where(args.queries, args.where, len(queries))
    settings = GenerationSettings(**{f.name: getattr(args, f.name) for f in fields(GenerationSettings)})
    choice = EngineChoice(
        kind=args.engine, backbone=args.backbone, dtype=args.dtype, device=args.device, fast_greedy=args.fast_greedy,
        actors=args.actors, cpus_per_actor=args.cpus_per_actor, gpus_per_actor=args.gpus_per_actor,
    )  # fmt: skip
    output, rows = generate(choice, queries, args.output, settings, shard=args.shard, ids=ids)
    logger.info("%d responses in %s (%d cut at max_new_tokens)", len(rows), output, _truncated(rows))


def _truncated(rows: list[dict]) -> int:
    return sum(bool(row.get("truncated")) for row in rows)


def _key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` with a non-empty key (a usage error otherwise)."""
    key, sep, value = text.partition("=")
    if not (sep and key.strip()):
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE (e.g. source=squad_passages), got {text!r}")
    return key.strip(), value


def _ids_where(source: str, where: tuple[str, str] | None, count: int) -> list[int] | None:
    """Indices of the first ``count`` query rows whose column equals the value; None without a filter."""
    if where is None:
        return None
    from ..io.records import read_records

    column, value = where
    ids = [i for i, row in enumerate(read_records(source)[:count]) if str(row.get(column)) == value]
    if not ids:
        raise ValueError(f"--where {column}={value}: no query in {source} has that value")
    return ids


def _train(args: argparse.Namespace) -> None:
    import yaml

    from ..training.run import TrainConfig, train

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    train(TrainConfig.from_yaml(args.config, **overrides))


def _load_model(path: str):
    from sentence_transformers import SentenceTransformer

    from ..models.saved_format import check_model_reference

    return SentenceTransformer(check_model_reference(path, "model"), trust_remote_code=True)


def _read_texts(args: argparse.Namespace) -> list[str]:
    if args.input:
        from ..io.records import read_texts

        return read_texts(args.input, column=args.column)
    return args.texts


def _encode(args: argparse.Namespace) -> None:
    from ..corpus import CorpusInput, EncodeSettings, encode_corpus, encode_to_npy

    if args.engine == "ray":
        from .ray import encode_with_ray

        return encode_with_ray(args)
    texts = args.texts or None  # with --input too: refused, not silently dropped
    corpus = CorpusInput(path=args.input, texts=texts, text_column=args.column, id_column=args.id_column)
    settings = EncodeSettings(**{f.name: getattr(args, f.name) for f in fields(EncodeSettings)})
    if args.output.endswith(".npy"):
        if (settings.shard, settings.chunk_size) != (EncodeSettings.shard, EncodeSettings.chunk_size) or args.id_column:
            raise ValueError("--shard, --chunk-size and --id-column need an output directory, not a .npy file")
        encode_to_npy(args.model, corpus, args.output, **asdict(settings, dict_factory=_npy_options))
        return
    summary = encode_corpus(args.model, corpus, args.output, **asdict(settings))
    logger.info("%s: %d chunk(s) encoded, %d already complete", summary.manifest, len(summary.encoded),
                len(summary.chunks) - len(summary.encoded))  # fmt: skip


def _npy_options(items: list[tuple[str, object]]) -> dict[str, object]:
    """The settings ``encode_to_npy`` takes: no chunks, no shards."""
    return {k: v for k, v in items if k not in ("chunk_size", "shard")}


def _add_encode_options(cmd: argparse.ArgumentParser) -> None:
    from .ray import add_ray_options

    cmd.description = (
        "Streams --input (JSONL, CSV or Parquet records, .txt one text per line; JSON and datasets are read in "
        "memory) into an output directory of chunk files: chunk-NNNNNN.npy (float32 vectors) and .ids.json, with a "
        "manifest. Rerun the same command to resume after an interruption; --shard i/n splits the work across "
        "machines, --devices across processes. An --output ending in .npy writes one array instead (small inputs)."
    )
    from ..corpus import EncodeSettings

    cmd.add_argument("--output", required=True, help="output directory, or a .npy file name for one array")
    cmd.add_argument("--id-column", default=None, help="the records' id column (default: 0-based row numbers)")
    add_options(cmd, EncodeSettings, types={"shard": shard, "devices": devices}, bool_values=False)
    cmd.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="ray: an actor pool on Ray Data, Parquet in and out (needs --id-column)")  # fmt: skip
    add_ray_options(cmd)


def _add_decode_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--prompt-name", default=None, help="the model's prompt to use, e.g. query, document")
    cmd.add_argument("--max-new-tokens", type=positive_int, default=64, help="at most 4096 (default 64)")
    cmd.add_argument("--top-k", type=positive_int, default=10, help="logit-lens words per text (default 10)")


def _decode(args: argparse.Namespace) -> None:
    texts = _read_texts(args)
    model = _load_model(args.model)
    check_prompt_name(model.prompts, args.prompt_name or None)  # "": no prompt
    prompt = model.prompts[args.prompt_name] if args.prompt_name else None
    lens = model[0].logit_lens(texts, prompt=prompt, top_k=args.top_k)  # first: a top_k above the vocabulary fails fast
    decoded = model[0].decode(texts, prompt=prompt, max_new_tokens=args.max_new_tokens)
    for text, out, words in zip(texts, decoded, lens):
        print(json.dumps({"text": text, "decoded": out, "logit_lens": words}, ensure_ascii=False))


def _convert(args: argparse.Namespace) -> None:
    from ..convert import convert_checkpoint

    convert_checkpoint(
        args.src, args.dst, base_model=args.base_model, overwrite=args.overwrite, revision=args.revision,
        base_revision=args.base_revision,
    )  # fmt: skip
    print(args.dst)


def build_parser() -> argparse.ArgumentParser:
    from ..generation.engines import GenerationSettings
    from ..generation.run import ENGINES
    from ..models.backbones import EMBEDDED_BACKBONE
    from .evaluate import add_evaluate
    from .ray import add_ray_options
    from .serve import add_serve

    parser = argparse.ArgumentParser(prog="llm2vec-gen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate",
        help="answer unlabeled queries with the frozen backbone (training targets)",
        description="Resumable: re-run after an interruption. Parallel: --shard i/n per process.",
    )
    gen.add_argument("--queries", required=True, help="JSONL/JSON/CSV file or datasets name/path")
    gen.add_argument("--output", required=True, help="JSONL output, appended to and resumed from")
    gen.add_argument("--backbone", default=EMBEDDED_BACKBONE, help="hub id, local dir, .gguf file (default: embedded)")
    gen.add_argument("--column", default=None, help="query column (default: query/prompt/instruction/question/text)")
    gen.add_argument("--limit", type=positive_int, default=None, help="answer only the first N queries (N >= 1)")
    gen.add_argument("--shard", type=shard, default=(0, 1), help="i/n: answer the queries whose index %% n == i")
    gen.add_argument("--where", type=_key_value, default=None, metavar="COLUMN=VALUE",
                     help="answer only the rows whose COLUMN equals VALUE, e.g. source=squad_passages (ids stay "
                          "row indices, so a later run without it answers the rest)")  # fmt: skip
    gen.add_argument("--dtype", default=None,
                     help="backbone dtype (default float32: a greedy answer then does not depend on the queries "
                          "answered beside it; bfloat16 is faster on CPUs with fast bf16, and on GPUs)")  # fmt: skip
    gen.add_argument("--no-fast-greedy", dest="fast_greedy", action="store_false",
                     help="answer with transformers' generate on the CPU too (default: FastGreedy, same float32 "
                          "answers, faster)")  # fmt: skip
    gen.add_argument("--device", default=None, help="e.g. cuda:1 (default: cuda when available, else cpu)")
    gen.add_argument("--engine", choices=ENGINES, default="transformers",
                     help="vllm: hand generation to vLLM when installed (hub id or local dir backbones); ray: "
                          "Transformers in a Ray actor pool; ray-vllm: ray.data.llm's vLLM processor")  # fmt: skip
    add_ray_options(gen)
    add_options(gen, GenerationSettings, types={"temperature": float, "top_p": float, "seed": int})
    gen.set_defaults(run=_generate)

    train = sub.add_parser(
        "train",
        help="train a head from a YAML recipe (see training/recipes)",
        description="Multi-GPU: torchrun --nproc_per_node N -m st_llm2vec_gen.cli train RECIPE",
    )
    train.add_argument("config", help="YAML recipe with TrainConfig fields")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    train.set_defaults(run=_train)

    texts_commands = (
        ("encode", _encode, _add_encode_options,
         "embed a corpus into chunk files with ids (resumable, shardable), or texts into a .npy"),
        ("decode", _decode, _add_decode_options, "decode texts' embeddings back to text, with the logit lens"),
    )  # fmt: skip
    for name, run, add_own_options, what in texts_commands:
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--model", required=True, help="an LLM2Vec-Gen model directory or hub id")
        cmd.add_argument("texts", nargs="*", help="texts (or use --input)")
        cmd.add_argument("--input", help="JSONL/JSON/CSV file of texts")
        cmd.add_argument("--column", default=None, help="text column of --input")
        cmd.set_defaults(run=run)
        add_own_options(cmd)

    conv = sub.add_parser(
        "convert", help="convert a published LLM2Vec-Gen checkpoint into a sentence-transformers model"
    )
    conv.add_argument("src", help="published-format directory or hub id")
    conv.add_argument("dst", help="output directory (must be empty unless --overwrite)")
    conv.add_argument("--base-model", default=None, help="local copy of the base model to refer to")
    conv.add_argument("--revision", default=None, help="the checkpoint's hub revision (branch, tag or commit)")
    conv.add_argument("--base-revision", default=None,
                      help="the base model's hub revision, recorded in the converted model")  # fmt: skip
    conv.add_argument("--overwrite", action="store_true", help="replace files in a non-empty DST")
    conv.set_defaults(run=_convert)
    add_evaluate(sub)
    add_serve(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import yaml

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if getattr(args, "texts", None) == [] and not getattr(args, "input", None):
        print(f"llm2vec-gen {args.command}: error: give texts or --input", file=sys.stderr)
        return 2
    try:
        args.run(args)
    except (ValueError, TypeError, OSError, ImportError, yaml.YAMLError) as error:  # OSError: missing files, offline
        if args.verbose:
            raise
        print(f"llm2vec-gen {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
