"""The ``llm2vec-gen`` command: generate, train, encode, decode, convert and evaluate, thin over the library.

Exit codes: 0 success, 1 a problem with the input (message on stderr, no stack trace), 2 bad command-line usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields

logger = logging.getLogger("st_llm2vec_gen")


def _generate(args: argparse.Namespace) -> None:
    from ..generation.engines import GenerationSettings, TransformersEngine
    from ..generation.responses import generate_responses
    from ..io.records import read_queries
    from ..models.atomic_files import check_writable

    queries = read_queries(args.queries, column=args.column)[: args.limit]  # checked before loading any model
    ids = _ids_where(args.queries, args.where, len(queries))
    settings = GenerationSettings(**{f.name: getattr(args, f.name) for f in fields(GenerationSettings)})
    index, count = args.shard
    output = args.output
    if count > 1:  # one file per shard: parallel processes never append to the same file
        root, ext = os.path.splitext(output)
        output = f"{root}.shard-{index}-of-{count}{ext}"
    if os.path.isdir(output):
        raise IsADirectoryError(f"--output {output} is a folder: give the path of a .jsonl file")
    check_writable(os.path.dirname(os.path.abspath(output)), "output folder")  # before loading the backbone
    if args.engine.startswith("ray"):
        from .ray import generate_with_ray

        rows = generate_with_ray(args, queries, output, settings, ids)
    else:
        if args.engine == "vllm":
            from ..generation.engines import VLLMEngine

            engine = VLLMEngine(args.backbone, **({"dtype": args.dtype} if args.dtype else {}))
        else:
            engine = TransformersEngine.from_pretrained(args.backbone, dtype=args.dtype, device=args.device)
        rows = generate_responses(engine, queries, output, settings, shard=(index, count), ids=ids)
    logger.info("%d responses in %s (%d cut at max_new_tokens)", len(rows), output, _truncated(rows))


def _truncated(rows: list[dict]) -> int:
    return sum(bool(row.get("truncated")) for row in rows)


def _boolean(text: str) -> bool:
    """Strict command-line boolean: true/false, 1/0, yes/no, on/off (any case); anything else is a usage error."""
    value = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
    try:
        return value[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true/false, 1/0, yes/no or on/off, got {text!r}") from None


def _positive_int(text: str) -> int:
    """An integer >= 1 (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _shard(text: str) -> tuple[int, int]:
    """``i/n`` with integers 0 <= i < n (a usage error otherwise)."""
    index, sep, count = text.partition("/")
    if not (sep and index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
        raise argparse.ArgumentTypeError(f"expected i/n with integers 0 <= i < n (e.g. 0/4), got {text!r}")
    return int(index), int(count)


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


def _check_model(path: str) -> str:
    """A missing local model path or a damaged JSON file is named before sentence-transformers reads it."""
    from ..models.locations import check_local_path
    from ..models.saved_format import check_saved_json

    path = check_local_path(path, "model")
    if os.path.isdir(path):
        check_saved_json(path)
    return path


def _load_model(path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(_check_model(path), trust_remote_code=True)


def _read_texts(args: argparse.Namespace) -> list[str]:
    if args.input:
        from ..io.records import read_texts

        return read_texts(args.input, column=args.column)
    return args.texts


def _encode(args: argparse.Namespace) -> None:
    from ..corpus import CorpusInput, encode_corpus, encode_to_npy

    if args.engine == "ray":
        from .ray import encode_with_ray

        return encode_with_ray(args)
    texts = args.texts or None  # with --input too: refused, not silently dropped
    corpus = CorpusInput(path=args.input, texts=texts, text_column=args.column, id_column=args.id_column)
    common = {"prompt_name": args.prompt_name, "batch_size": args.batch_size, "devices": args.devices,
              "normalize": args.normalize, "overwrite": args.overwrite}  # fmt: skip
    if args.output.endswith(".npy"):
        if args.shard != (0, 1) or args.chunk_size or args.id_column:
            raise ValueError("--shard, --chunk-size and --id-column need an output directory, not a .npy file")
        encode_to_npy(args.model, corpus, args.output, **common)
        return
    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    summary = encode_corpus(args.model, corpus, args.output, chunk_size=chunk_size, shard=args.shard, **common)
    logger.info("%s: %d chunk(s) encoded, %d already complete", summary.manifest, len(summary.encoded),
                len(summary.chunks) - len(summary.encoded))  # fmt: skip


DEFAULT_CHUNK_SIZE = 10_000


def _devices(text: str) -> list[str]:
    """``cpu,cpu`` or ``cuda:0,cuda:1``: torch device names, comma-separated (a usage error otherwise)."""
    import torch

    names = [name.strip() for name in text.split(",")]
    for name in names:
        try:
            torch.device(name)
        except (RuntimeError, ValueError):
            message = f"expected device names such as cpu,cpu or cuda:0,cuda:1, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None
    return names


def _add_encode_options(cmd: argparse.ArgumentParser) -> None:
    from .ray import add_ray_options

    cmd.description = (
        "Streams --input (JSONL, CSV or Parquet records, .txt one text per line; JSON and datasets are read in "
        "memory) into an output directory of chunk files: chunk-NNNNNN.npy (float32 vectors) and .ids.json, with a "
        "manifest. Rerun the same command to resume after an interruption; --shard i/n splits the work across "
        "machines, --devices across processes. An --output ending in .npy writes one array instead (small inputs)."
    )
    cmd.add_argument("--output", required=True, help="output directory, or a .npy file name for one array")
    cmd.add_argument("--overwrite", action="store_true", help="replace an output written with other settings")
    cmd.add_argument("--batch-size", type=_positive_int, default=32, help="texts per forward pass (default 32)")
    cmd.add_argument("--chunk-size", type=_positive_int, default=None,
                     help=f"rows per chunk file (default {DEFAULT_CHUNK_SIZE}); a rerun must keep it")  # fmt: skip
    cmd.add_argument("--id-column", default=None, help="the records' id column (default: 0-based row numbers)")
    cmd.add_argument("--shard", type=_shard, default=(0, 1),
                     help="i/n: encode the chunks whose index %% n == i (one of n machines)")  # fmt: skip
    cmd.add_argument("--devices", type=_devices, default=None,
                     help="e.g. cuda:0,cuda:1 or cpu,cpu: one process each (sentence-transformers' pool)")  # fmt: skip
    cmd.add_argument("--normalize", action="store_true", help="unit-length vectors")
    cmd.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="ray: an actor pool on Ray Data, Parquet in and out (needs --id-column)")  # fmt: skip
    add_ray_options(cmd)


def _decode(args: argparse.Namespace) -> None:
    texts = _read_texts(args)
    model = _load_model(args.model)
    if args.prompt_name and args.prompt_name not in model.prompts:
        raise ValueError(f"Unknown prompt name {args.prompt_name!r}; the model has {sorted(model.prompts)}")
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


def _evaluate(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ..evaluation import EvaluationConfig, SuiteSizes, run_suite
    from ..evaluation.report import markdown_report
    from ..models.atomic_files import atomic_write

    for path in (args.output, args.markdown):
        if path and Path(path).exists() and not args.overwrite:
            raise ValueError(f"{path} exists; pass --overwrite to replace it")
    model = _check_model(args.model)
    config = EvaluationConfig(
        model=model, tasks=args.tasks, methods=args.methods, teacher=args.teacher, data_dir=args.data_dir,
        teacher_kwargs=None if args.teacher_kwargs is None else _json_object(args.teacher_kwargs, "--teacher-kwargs"),
        sizes=SuiteSizes.tiny() if args.tiny else SuiteSizes(), batch_size=args.batch_size,
        max_seq_length=args.max_seq_length, hyde_max_new_tokens=args.hyde_max_new_tokens,
        interpretability=not args.no_interpretability, prompts=args.prompts, quantize=args.quantize,
        bright_instructions=args.bright_instructions, output=args.output,
    )  # fmt: skip
    results = run_suite(config)
    if args.markdown:
        report = markdown_report(results) + "\n"
        atomic_write(args.markdown, lambda tmp: Path(tmp).write_text(report, encoding="utf-8"))
    print(markdown_report(results))


def _missing_extra(reason: str) -> None:
    raise ImportError(f"evaluate needs the eval extra: pip install 'st-llm2vec-gen[eval]' ({reason})")


def _json_object(text: str, option: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{option} must be a JSON object, e.g. '{{\"layer\": 20}}': {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from ..models.backbones import EMBEDDED_BACKBONE
    from .ray import add_ray_options

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
    gen.add_argument("--limit", type=_positive_int, default=None, help="answer only the first N queries (N >= 1)")
    gen.add_argument("--shard", type=_shard, default=(0, 1), help="i/n: answer the queries whose index %% n == i")
    gen.add_argument("--where", type=_key_value, default=None, metavar="COLUMN=VALUE",
                     help="answer only the rows whose COLUMN equals VALUE, e.g. source=squad_passages (ids stay "
                          "row indices, so a later run without it answers the rest)")  # fmt: skip
    gen.add_argument("--dtype", default=None, help="backbone dtype, e.g. bfloat16 on GPU")
    gen.add_argument("--device", default=None, help="e.g. cuda:1 (default: cuda when available, else cpu)")
    gen.add_argument("--engine", choices=("transformers", "vllm", "ray", "ray-vllm"), default="transformers",
                     help="vllm: hand generation to vLLM when installed (hub id or local dir backbones); ray: "
                          "Transformers in a Ray actor pool; ray-vllm: ray.data.llm's vLLM processor")  # fmt: skip
    add_ray_options(gen)
    _add_settings(gen)
    gen.set_defaults(run=_generate)

    train = sub.add_parser(
        "train",
        help="train a head from a YAML recipe (see training/recipes)",
        description="Multi-GPU: torchrun --nproc_per_node N -m st_llm2vec_gen.cli.main train RECIPE",
    )
    train.add_argument("config", help="YAML recipe with TrainConfig fields")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    train.set_defaults(run=_train)

    texts_commands = (
        ("encode", _encode, "embed a corpus into chunk files with ids (resumable, shardable), or texts into a .npy"),
        ("decode", _decode, "decode texts' embeddings back to text, with the logit lens"),
    )
    for name, run, what in texts_commands:
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--model", required=True, help="an LLM2Vec-Gen model directory or hub id")
        cmd.add_argument("texts", nargs="*", help="texts (or use --input)")
        cmd.add_argument("--input", help="JSONL/JSON/CSV file of texts")
        cmd.add_argument("--column", default=None, help="text column of --input")
        cmd.add_argument("--prompt-name", default=None,
                         help="the model's prompt to use, e.g. query, document, STS")  # fmt: skip
        cmd.set_defaults(run=run)
        if name == "encode":
            _add_encode_options(cmd)
        else:
            cmd.add_argument("--max-new-tokens", type=_positive_int, default=64, help="at most 4096 (default 64)")
            cmd.add_argument("--top-k", type=_positive_int, default=10, help="logit-lens words per text (default 10)")

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
    _add_evaluate(sub)
    return parser


def _add_settings(gen: argparse.ArgumentParser) -> None:
    """One option per :class:`GenerationSettings` field: strict booleans, sizes >= 1."""
    from ..generation.engines import GenerationSettings

    sizes = {"max_new_tokens", "batch_size", "max_query_length"}
    for f in fields(GenerationSettings):
        if f.type in (bool, "bool"):
            kind = _boolean
        else:
            kind = _positive_int if f.name in sizes else type(f.default)
        gen.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, help=f"(default {f.default})")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    from .. import DEFAULT_MODEL
    from ..evaluation.bright_prompts import DEFAULT_SET, STUDENT_SETS
    from ..quantization import QUANTIZATIONS

    try:
        from ..evaluation import METHODS, OFFLINE_TASKS
        from ..evaluation.suite import PROMPT_SOURCES
    except ImportError as error:  # the `eval` extra (mteb) is not installed: every other command still works
        reason = str(error)
        missing = sub.add_parser("evaluate", help="mteb evaluation (needs: pip install 'st-llm2vec-gen[eval]')")
        missing.set_defaults(run=lambda args: _missing_extra(reason))
        return

    ev = sub.add_parser(
        "evaluate",
        help="mteb evaluation of a model and its baselines (offline bundled tasks by default)",
        description="Runs the model, its teacher, mean/last-token pooling of the backbone, HyDE and all-MiniLM-L6-v2 "
        f"on the same tasks. Bundled offline tasks: {', '.join(OFFLINE_TASKS)}. Other names are mteb tasks or "
        "benchmarks (e.g. 'MTEB(eng, v2)', 'llm2vec-gen-lite' for the paper's lite set, 'BRIGHT' or 'BRIGHT (long)' "
        "for BRIGHT as one task per domain) and need the hub.",
    )
    ev.add_argument("--model", default=DEFAULT_MODEL, help="LLM2Vec-Gen model directory or hub id (default: embedded)")
    ev.add_argument("--tasks", nargs="+", default=["offline"], help="task or benchmark names (default: offline)")
    ev.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="what to evaluate")
    ev.add_argument("--teacher", default=None,
                    help="'self' or the teacher's sentence-transformers path/id (default: the one the model was "
                         "trained with, as it records it; else 'self', mean pooling)")  # fmt: skip
    ev.add_argument("--teacher-kwargs", default=None, help="teacher options as JSON, e.g. '{\"layer\": 20}'")
    ev.add_argument(
        "--data-dir",
        default=None,
        help="offline tasks' data folder (default: $ST_LLM2VEC_GEN_DATA, else the data bundled with the package)",
    )
    ev.add_argument("--output", default="results.json", help="results JSON (default: results.json)")
    ev.add_argument("--markdown", default=None, help="also write the Markdown tables here")
    ev.add_argument("--overwrite", action="store_true", help="replace existing --output/--markdown files")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--max-seq-length", type=int, default=256, help="tokens per text for every method")
    ev.add_argument("--hyde-max-new-tokens", type=int, default=48)
    ev.add_argument("--tiny", action="store_true", help="a few texts per task: a smoke run in minutes")
    ev.add_argument("--no-interpretability", action="store_true", help="skip the decoded-samples report")
    ev.add_argument(
        "--prompts",
        choices=PROMPT_SOURCES,
        default="paper",
        help="'paper': the published per-task instruction for each mteb task that has one, as the paper's runner "
        "(default); 'saved': the model's saved prompts only. The bundled offline tasks always use the saved ones",
    )
    ev.add_argument(
        "--bright-instructions",
        choices=STUDENT_SETS,
        default=DEFAULT_SET,
        help="with --prompts paper: the model's published BRIGHT instructions (a folder of "
        f"scripts/bright_eval/configs; default {DEFAULT_SET}); the teacher row gets 'llm2vec'",
    )
    ev.add_argument("--quantize", choices=QUANTIZATIONS, default=None, help="encode with the backbone in int8 (CPU)")
    ev.set_defaults(run=_evaluate)


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
