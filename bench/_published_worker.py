"""Worker for the published package (run with .venv-published/bin/python by bench/published.py): one measurement,
printed as one JSON line. It calls the published ``llm2vec-gen`` 0.1.3 code; none of that code is copied here.

    encode CHECKPOINT BACKBONE SPECIAL_JSON --num-texts 64 --batch-size 16
    train  CHECKPOINT BACKBONE SPECIAL_JSON --batch-size 8 --steps 3 [--checkpointing]

Encoding: ``LLM2VecGenModel.encode`` (it embeds its whole input list as one batch, so we hand it batches of
``--batch-size`` texts, longest first like sentence-transformers), with the instruction prepended as text (the
published encoder takes no prompt argument).

Training: the package's ``CustomTrainer.compute_loss`` raises NotImplementedError; the real step lives in the
repository's ``scripts/train.py`` (``LLM2VecGenTrainer.compute_loss``), which needs hydra, wandb and its datasets. We
drive the same package functions in the same order for the paper's setting (reconstruction and alignment weights
1.0, no hard negatives): ``CustomCollator`` -> ``EncoderDecoderModel.__call__`` (encoder + frozen decoder copy with
HF ``labels``: the reconstruction CE) -> ``get_teacher_embeddings`` (a third, frozen copy of the backbone, mean
pooled: what our self teacher computes) -> ``compute_mse_loss`` -> backward. ``get_teacher_embeddings`` only accepts
a ``PeftModel``, so the teacher copy is wrapped in a PEFT adapter that changes nothing (trainable tokens on one
unused id); the paper's LLM2Vec teacher carries a LoRA adapter instead, which costs slightly more.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import types
from pathlib import Path

import torch
from _common import emit, load_texts, median, peak_rss_mib, reset_peak_rss, rss_mib, tensor_mib
from transformers import PreTrainedTokenizerFast


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["encode", "train"])
    parser.add_argument("checkpoint", help="published-format checkpoint directory")
    parser.add_argument("backbone", help="the backbone directory in transformers-4.x format")
    parser.add_argument("special", help="JSON list of the special tokens")
    parser.add_argument("--num-texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--prompt", default="Generate a passage that answers this question:")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def tokenizer_for(checkpoint: str, backbone: str, special: list[str]) -> PreTrainedTokenizerFast:
    """The backbone's tokenizer with the special tokens added, saved into the checkpoint in a form transformers 4.56
    reads (transformers 5 saved the tokenizer class under a name 4.56 lacks): as in interop/published_parity.py."""
    saved = json.loads(Path(backbone, "tokenizer_config.json").read_text())
    names = {k: v for k, v in saved.items() if k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(backbone, "tokenizer.json")), **names)
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(checkpoint)
    return tokenizer


def encode(args: argparse.Namespace, special: list[str]) -> dict:
    from llm2vec_gen.models import LLM2VecGenModel
    from llm2vec_gen.models.modeling_encoder_decoder import EncoderDecoderModel

    tokenizer = tokenizer_for(args.checkpoint, args.backbone, special)
    model = LLM2VecGenModel(
        EncoderDecoderModel.from_pretrained(args.checkpoint, causal_lm_decoder=True), tokenizer, device="cpu"
    )
    model.model.eval()
    after_load, load_peak = rss_mib(), peak_rss_mib()
    reset_peak_rss()
    texts = sorted(load_texts("queries", args.num_texts, args.seed), key=len, reverse=True)  # ST's order
    texts = [f"{args.prompt} {t}" for t in texts]
    batches = [texts[i : i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    times = []
    for _ in range(args.rounds + 1):  # the first pass is the warm-up
        start = time.perf_counter()
        for batch in batches:
            model.encode(batch).numpy()
        times.append(time.perf_counter() - start)
    return {
        "texts_per_s": len(texts) / median(times[1:]),
        "times": times[1:],
        "tensor_mib": tensor_mib(model.model),
        "rss_after_load_mib": after_load,
        "peak_rss_mib": max(load_peak, peak_rss_mib()),
        "work_peak_mib": peak_rss_mib(),
    }


def _import_collator():
    """``llm2vec_gen.dataset``'s ``__init__`` imports the HF ``datasets`` library (for its hub dataset class), which
    the collator does not need: register the subpackage without running that ``__init__``."""
    origin = importlib.util.find_spec("llm2vec_gen").origin
    package = types.ModuleType("llm2vec_gen.dataset")
    package.__path__ = [str(Path(origin).parent / "dataset")]
    sys.modules.setdefault("llm2vec_gen.dataset", package)
    from llm2vec_gen.dataset.base_dataset import DataSample
    from llm2vec_gen.dataset.data_collator import CustomCollator

    return CustomCollator, DataSample


def train(args: argparse.Namespace, special: list[str]) -> dict:
    from llm2vec_gen.losses import compute_mse_loss, get_teacher_embeddings
    from llm2vec_gen.models.modeling_encoder_decoder import EncoderDecoderModel
    from peft import TrainableTokensConfig, get_peft_model
    from transformers import AutoModel

    CustomCollator, DataSample = _import_collator()
    torch.manual_seed(args.seed)
    tokenizer = tokenizer_for(args.checkpoint, args.backbone, special)
    model = EncoderDecoderModel.from_pretrained(args.checkpoint, causal_lm_decoder=True, is_trainable=True)
    model.decoder_model.requires_grad_(False)  # scripts/train.py freezes the decoder copy
    teacher = AutoModel.from_pretrained(args.backbone, torch_dtype=torch.float32)
    teacher = get_peft_model(teacher, TrainableTokensConfig(token_indices=[0]))  # no-op adapter (see docstring)
    teacher.requires_grad_(False)
    teacher.eval()
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    collator = CustomCollator(
        tokenizer=tokenizer,
        special_tokens=special,
        padding="longest",
        max_length=512,
        teacher_tokenizer=tokenizer,
        teacher_special_tokens=[],
    )
    after_load, load_peak = rss_mib(), peak_rss_mib()
    reset_peak_rss()
    pairs = load_texts("pairs", args.batch_size * (args.steps + 1), args.seed)
    batches = [pairs[i : i + args.batch_size] for i in range(0, len(pairs), args.batch_size)]
    keys = ("query_input_ids", "query_attention_mask", "answer_input_ids", "answer_attention_mask", "labels")
    times, losses, tokens = [], [], []
    for batch in batches:  # the first is the warm-up
        start = time.perf_counter()
        features = collator([DataSample(id_=i, question=q, answer=r) for i, (q, r) in enumerate(batch)])
        states, outputs = model(**{k: features[k] for k in keys})
        target = get_teacher_embeddings(
            features["teacher_answer_input_ids"], features["teacher_answer_attention_mask"], teacher, states
        )
        alignment, _ = compute_mse_loss(states.mean(dim=1), target, mse_loss_weight=1.0)
        total = outputs["loss"] + alignment
        total.backward()
        times.append(time.perf_counter() - start)
        losses.append({"alignment": alignment.item(), "reconstruction": outputs["loss"].item()})
        tokens.append(int(features["answer_attention_mask"].sum()))
        model.zero_grad(set_to_none=True)
    return {
        "s_per_step": median(times[1:]),
        "times": times[1:],
        "losses": losses,
        "response_tokens": tokens,
        "tensor_mib": tensor_mib(model, teacher),
        "rss_after_load_mib": after_load,
        "peak_rss_mib": max(load_peak, peak_rss_mib()),
        "work_peak_mib": peak_rss_mib(),
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    special = json.loads(args.special)
    emit({"encode": encode, "train": train}[args.what](args, special) | {"threads": torch.get_num_threads()})


if __name__ == "__main__":
    main()
