"""BRIGHT (reasoning-intensive retrieval) as the paper runs it: the published per-domain instructions as ST prompts.

The published BRIGHT evaluation (McGill-NLP/llm2vec-gen, ``scripts/bright_eval``) gives each BRIGHT domain its own
query instruction, with ``{task}`` filled by the domain key (``"earth_science"``, underscore kept, as in mteb's own
BRIGHT prompts), and a second instruction for the long-document setting. It prepends the instruction to the query
as it is (the instructions end in a space) and gives LLM2Vec-Gen models ``"Summarize the following passage: "``
before every document. The strings ship in ``evaluation/bright_instructions.json`` with their source and licence,
in three sets named after the published config folders:

- ``ours_new`` (default) and ``ours``: the student's. The published ``run.py`` reads ``ours`` for LLM2Vec-Gen models at
  the shipped commit; ``ours_new`` adds "I don't want the answer to the problem" to every instruction.
- ``llm2vec``: the LLM2Vec teacher's (queries only; the repository has no teacher document side).

Every mteb BRIGHT task with one domain maps to its instruction (:data:`BRIGHT_TASKS`); any other task whose name
starts with ``Bright`` is an error that names it, never a silent fallback to a generic prompt.

    from st_llm2vec_gen.evaluation.bright_prompts import bright_prompts
    model.prompts.update(bright_prompts(["BrightBiologyRetrieval", "BrightBiologyLongRetrieval"]))
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mteb import AbsTask

BRIGHT_FILE = Path(__file__).parent / "bright_instructions.json"
"""``{"source", "usage", "sets": {set: {"role", "config_dir", "document", "domains": {domain: published config}}}}``."""
STUDENT_SETS = ("ours_new", "ours")
TEACHER_SET = "llm2vec"
DEFAULT_SET = "ours_new"
DOCUMENT_SUFFIX = "-document"

_SHORT_ONLY = {"Leetcode": "leetcode", "Aops": "aops", "TheoremQATheorems": "theoremqa_theorems",
               "TheoremQAQuestions": "theoremqa_questions"}  # fmt: skip
_WITH_LONG = {"Biology": "biology", "EarthScience": "earth_science", "Economics": "economics",
              "Psychology": "psychology", "Robotics": "robotics", "Stackoverflow": "stackoverflow",
              "SustainableLiving": "sustainable_living", "Pony": "pony"}  # fmt: skip
BRIGHT_TASKS: dict[str, tuple[str, bool]] = {
    **{f"Bright{name}Retrieval": (domain, False) for name, domain in {**_WITH_LONG, **_SHORT_ONLY}.items()},
    **{f"Bright{name}LongRetrieval": (domain, True) for name, domain in _WITH_LONG.items()},
}
"""mteb task name -> (BRIGHT domain, long-document variant): the per-domain tasks mteb 2 registers."""
BRIGHT_BENCHMARKS: dict[str, list[str]] = {
    "BRIGHT": [name for name, (_, long) in BRIGHT_TASKS.items() if not long],
    "BRIGHT (long)": [name for name, (_, long) in BRIGHT_TASKS.items() if long],
}
"""mteb's BRIGHT benchmarks hold one task for all domains (``BrightRetrieval``, ``BrightLongRetrieval``), which one
prompt per task cannot give per-domain instructions: the same data as one task per domain instead."""
_ALL_DOMAINS = {"BrightRetrieval": "BRIGHT", "BrightLongRetrieval": "BRIGHT (long)"}


def is_bright_task(name: str) -> bool:
    """Whether ``name`` is a BRIGHT task by mteb's naming (``Bright...``), known here or not."""
    return name.startswith("Bright")


@lru_cache(maxsize=1)
def _published() -> dict[str, Any]:
    return json.loads(BRIGHT_FILE.read_text(encoding="utf-8"))


def bright_source() -> dict[str, str]:
    """Where the BRIGHT instructions come from: repository, files, commit and licence."""
    return dict(_published()["source"])


def _set(instructions: str) -> dict[str, Any]:
    sets = _published()["sets"]
    if instructions not in sets:
        raise ValueError(f"Unknown BRIGHT instruction set {instructions!r}; choose from {sorted(sets)}.")
    return sets[instructions]


def _unknown(name: str) -> str:
    if name in _ALL_DOMAINS:
        return (
            f"{name} runs every BRIGHT domain as one mteb task, so one prompt would serve all domains, whereas the "
            f"published evaluation gives each domain its own instruction: pass --tasks '{_ALL_DOMAINS[name]}' "
            "(run here as one task per domain) or per-domain names such as BrightBiologyRetrieval"
        )
    if name.startswith("BrightPro"):
        return f"{name} (BRIGHT-Pro) has no published LLM2Vec-Gen instruction: the paper evaluates BRIGHT only"
    return f"{name} has no published BRIGHT instruction (known: {', '.join(BRIGHT_TASKS)})"


def check_bright_tasks(tasks: Iterable[str | AbsTask]) -> list[str]:
    """The BRIGHT task names among ``tasks``, in order.

    Raises:
        ValueError: For BRIGHT tasks without a published instruction, naming each; use ``--prompts saved`` (the
            model's saved prompts) to run them anyway.
    """
    names = [name for name in dict.fromkeys(_task_name(t) for t in tasks) if is_bright_task(name)]
    if unknown := [name for name in names if name not in BRIGHT_TASKS]:
        reasons = "; ".join(_unknown(name) for name in unknown)
        raise ValueError(f"No published instruction for {', '.join(unknown)}: {reasons}. To run them with the "
                         "model's saved prompts instead, pass --prompts saved (prompts='saved').")  # fmt: skip
    return names


def bright_instruction(task: str, instructions: str = DEFAULT_SET) -> str:
    """The published query instruction of one mteb BRIGHT task, ``{task}`` filled, trailing space kept.

    Args:
        task: An mteb BRIGHT task name, e.g. ``"BrightEarthScienceLongRetrieval"``.
        instructions: The instruction set: ``"ours_new"``, ``"ours"`` (student) or ``"llm2vec"`` (teacher).

    Raises:
        ValueError: For a task without a published instruction, or an unknown set.
    """
    check_bright_tasks([task])
    if task not in BRIGHT_TASKS:
        raise ValueError(f"{task} is not a BRIGHT task (known: {', '.join(BRIGHT_TASKS)}).")
    domain, long = BRIGHT_TASKS[task]
    config = _set(instructions)["domains"][domain]
    key = "instructions_long" if long else "instructions"
    if key not in config:
        raise ValueError(f"The {instructions!r} BRIGHT instructions have no {key!r} entry for {domain} ({task}).")
    return config[key]["query"].replace("{task}", domain)


def bright_query_instructions(tasks: Iterable[str | AbsTask], instructions: str = DEFAULT_SET) -> dict[str, str]:
    """``{task name: query instruction}`` for the BRIGHT tasks among ``tasks`` (other tasks are left out).

    Raises:
        ValueError: As :func:`check_bright_tasks`, or for an unknown set.
    """
    _set(instructions)
    return {name: bright_instruction(name, instructions) for name in check_bright_tasks(tasks)}


def bright_document_prompt(instructions: str = DEFAULT_SET) -> str | None:
    """What the published evaluation puts before each document for a set (``None``: not recorded)."""
    return _set(instructions)["document"]


def bright_prompts(tasks: Iterable[str | AbsTask] | None = None, instructions: str = DEFAULT_SET) -> dict[str, str]:
    """ST prompt entries that make mteb encode BRIGHT tasks as the published evaluation encodes LLM2Vec-Gen models.

    Args:
        tasks: mteb tasks or task names; non-BRIGHT ones are ignored. ``None``: every task of :data:`BRIGHT_TASKS`.
        instructions: A student set, ``"ours_new"`` (default) or ``"ours"``.

    Returns:
        ``{"{task}": query instruction, "{task}-document": "Summarize the following passage: "}`` per BRIGHT task.

    Raises:
        ValueError: For a BRIGHT task without a published instruction (named), or a set other than the student's.
    """
    if instructions not in STUDENT_SETS:
        raise ValueError(f"BRIGHT prompts for an LLM2Vec-Gen model come from a student set {list(STUDENT_SETS)}, "
                         f"got {instructions!r} (the teacher's set has no document side).")  # fmt: skip
    queries = bright_query_instructions(BRIGHT_TASKS if tasks is None else tasks, instructions)
    document = bright_document_prompt(instructions)
    prompts: dict[str, str] = {}
    for name, query in queries.items():
        prompts[name] = query
        prompts[name + DOCUMENT_SUFFIX] = document
    return prompts


def _task_name(task: str | AbsTask) -> str:
    return task if isinstance(task, str) else task.metadata.name
