"""Fine-tune an LLM2Vec-Gen model on labelled pairs with MultipleNegativesRankingLoss, keeping it decodable.

    python examples/finetune_mnrl.py --steps 20 --output outputs/finetuned-mnrl [--model PATH] [--weight 0]

Pairs are (question, passage that answers it); here the committed SmolLM2 answers of training/data stand in for a
user's labelled passages. The standard SentenceTransformerTrainer trains only the head (the backbone is frozen);
ReconstructionRegularizedLoss adds the reconstruction of each question's own answer (the `llm_answer` column, routed
to the module's `response` task as decoder targets) to MNRL, so that the fine-tuned embedding still decodes to text.
`--weight 0` trains MNRL alone. Any other sentence-transformers loss (CoSENTLoss, MatryoshkaLoss, ...) fits in the
same place. The reconstruction loss of 8 held-out questions' answers, before and after, shows how decodable the
embedding stayed.
"""

import argparse
import json
from pathlib import Path

import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from st_llm2vec_gen import DEFAULT_MODEL, ReconstructionRegularizedLoss

PAIRS = Path(__file__).parents[1] / "training" / "data" / "responses.jsonl"


@torch.no_grad()
def reconstruction(model: SentenceTransformer, rows: list[dict]) -> float:
    """Cross-entropy of the frozen LLM regenerating each answer from its question's soft prompt (lower: decodable)."""
    module = model[0]
    soft_prompt = module(module.preprocess([r["query"] for r in rows]))["soft_prompt"]
    target = module.preprocess([r["response"] for r in rows], task="response")
    return module.reconstruction_loss(soft_prompt, target["input_ids"], target["attention_mask"]).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=64, help="how many (question, passage) pairs to train on")
    parser.add_argument("--weight", type=float, default=1.0, help="weight of the reconstruction term (0: MNRL only)")
    parser.add_argument("--output", default="outputs/finetuned-mnrl")
    args = parser.parse_args()

    lines = PAIRS.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[: args.pairs]]
    held_out = [json.loads(line) for line in lines[args.pairs : args.pairs + 8]]
    questions, passages = [r["query"] for r in rows], [r["response"] for r in rows]
    train = Dataset.from_dict({"anchor": questions, "positive": passages, "llm_answer": passages})

    model = SentenceTransformer(args.model, trust_remote_code=True)
    model.max_seq_length = min(model.max_seq_length, 128)
    before = reconstruction(model, held_out)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output,
        prompts={"anchor": model.prompts["query"], "positive": model.prompts["document"]},  # as at inference
        router_mapping={"llm_answer": "response"},  # the answers become decoder targets, not a third text column
        max_steps=args.steps,
        per_device_train_batch_size=8,
        learning_rate=2e-4,
        warmup_steps=2,
        logging_steps=5,
        save_strategy="no",
        report_to=[],
    )
    loss = ReconstructionRegularizedLoss(model, MultipleNegativesRankingLoss(model), weight=args.weight)
    SentenceTransformerTrainer(model=model, args=training_args, train_dataset=train, loss=loss).train()
    model.save(args.output)

    query = model.encode_query(questions[:2], convert_to_tensor=True)
    documents = model.encode_document(passages[:2], convert_to_tensor=True)
    print(f"saved to {args.output}")
    print(f"Reconstruction loss of held-out answers: {before:.3f} before, {reconstruction(model, held_out):.3f} after")
    similarity = model.similarity(query, documents).tolist()  # (2, 2): the diagonal holds the matching pairs
    print("Similarity (questions x passages):", [[round(v, 3) for v in row] for row in similarity])
    for question, text in zip(questions[:2], model[0].decode(questions[:2], max_new_tokens=24)):
        print(f"Question: {question[:80]}\nDecoded: {text}")


if __name__ == "__main__":
    main()
