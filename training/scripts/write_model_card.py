"""Writes the LLM2Vec-Gen model card (README.md) of a saved model, e.g. the embedded default.

    python training/scripts/write_model_card.py --model st_llm2vec_gen/default_model \
        --recipe training/recipes/smollm2-135m-cpu.yaml \
        --training-data "2,048 SmolLM2-135M-Instruct answers to Alpaca/Tulu prompts (training/data, see SOURCES.md)" \
        --results docs/results/evaluation.json

The card is what `model.save` writes for a model built by `create_model` or trained by `llm2vec-gen train`; this
script gives one to a directory saved without it. An existing README.md is kept unless --overwrite.
"""

import argparse
import dataclasses
import logging
from pathlib import Path

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.model_card import generate_model_card

from st_llm2vec_gen.evaluation.report import quality_table
from st_llm2vec_gen.evaluation.results import SuiteResults
from st_llm2vec_gen.model_card import use_model_card
from st_llm2vec_gen.models.atomic_files import atomic_write
from st_llm2vec_gen.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--recipe", default=None, help="the YAML recipe it was trained with")
    parser.add_argument("--training-data", default=None, help="one line on the training data")
    parser.add_argument("--name", default=None, help="model name shown as the card's title")
    parser.add_argument("--results", default=None, help="`llm2vec-gen evaluate --output` JSON: its quality table")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    readme = Path(args.model) / "README.md"
    if readme.exists() and not args.overwrite:
        raise SystemExit(f"{readme} exists: pass --overwrite to replace it")
    model = SentenceTransformer(args.model, trust_remote_code=True)
    recipe = dataclasses.asdict(TrainConfig.from_yaml(args.recipe)) if args.recipe else None
    evaluation = None
    if args.results:
        results = SuiteResults.read(args.results)
        intro = "The bundled suite (`llm2vec-gen evaluate`; main scores x100, category means, texts cut at 256 tokens):"
        evaluation = intro + "\n\n" + quality_table(results) + "\n"  # a blank line ends the table
    card = use_model_card(
        model, recipe=recipe, training_data=args.training_data, model_name=args.name, evaluation=evaluation
    )
    card.local_files_only = True
    text = generate_model_card(model)
    atomic_write(readme, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    logging.info("Wrote %s", readme)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
