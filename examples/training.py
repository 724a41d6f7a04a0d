"""Train an LLM2Vec-Gen head with sentence-transformers' own trainer, in plain Python.

    python examples/training.py --steps 20 --output outputs/example-head

Uses the committed SmolLM2 query/response pairs, the frozen backbone as its own teacher (no external model), and
the standard SentenceTransformerTrainer: the only LLM2Vec-Gen-specific setting is `router_mapping`, which makes the
module tokenize the response column as reconstruction targets.
"""

import argparse
import json
from pathlib import Path

import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

from st_llm2vec_gen import EMBEDDED_BACKBONE, LLM2VecGenLoss, create_model
from st_llm2vec_gen.training.teachers import SelfTeacher

PAIRS = Path(__file__).parents[1] / "training" / "data" / "responses.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=64, help="how many query/response pairs to use")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--output", default="outputs/example-head")
    args = parser.parse_args()

    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()[: args.pairs]]
    model = create_model(EMBEDDED_BACKBONE, num_tokens=10, max_seq_length=128)
    responses = [r["response"] for r in rows]
    labels = SelfTeacher(model[0]).encode(responses, batch_size=8)  # (pairs, 576), under no_grad
    train = Dataset.from_dict({"query": [r["query"] for r in rows], "response": responses, "label": labels.tolist()})

    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output,
        router_mapping={"response": "response"},  # tokenize responses as decoder targets
        max_steps=args.steps,
        per_device_train_batch_size=4,
        learning_rate=args.learning_rate,
        warmup_steps=2,
        logging_steps=5,
        save_strategy="no",
        report_to=[],
    )
    loss = LLM2VecGenLoss(model, alignment_weight=1.0, reconstruction_weight=1.0)
    before = errors(model, train["query"], responses, labels)
    SentenceTransformerTrainer(model=model, args=training_args, train_dataset=train, loss=loss).train()
    after = errors(model, train["query"], responses, labels)
    for name, b, a in zip(("alignment MSE", "reconstruction CE"), before, after):
        print(f"{name} on the {len(rows)} training pairs: before {b:.4f}, after {a:.4f}")
    model.save(args.output)
    print(f"saved to {args.output}; decoded: {model[0].decode([rows[0]['query']], max_new_tokens=24)[0]!r}")


@torch.no_grad()
def errors(model, queries: list[str], responses: list[str], labels: torch.Tensor) -> tuple[float, float]:
    """The two terms on the training pairs: the embeddings' mean squared distance to their teacher targets, and the
    frozen backbone's cross-entropy of each response after the query's soft prompt."""
    module = model[0]
    out = module(module.preprocess(queries))
    alignment = torch.nn.functional.mse_loss(out["sentence_embedding"].float(), labels).item()
    targets = module.preprocess_responses(responses)
    reconstruction = module.reconstruction_loss(out["soft_prompt"], targets["input_ids"], targets["attention_mask"])
    return alignment, reconstruction.item()


if __name__ == "__main__":
    main()
