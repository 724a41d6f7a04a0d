"""Tiny random Llama and Qwen3 backbones built from configs, with a BPE tokenizer trained here: no downloads.

A plain module, not a conftest: `from tiny_models import save_backbone` means the same thing in every test folder,
whereas `from conftest import ...` picks whichever conftest.py pytest imported last. The fixtures built on these
helpers are in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

CORPUS = [
    "Polar bears live in the Arctic, on sea ice and snow near the North Pole.",
    "The capital of France is Paris, a city on the river Seine.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
    "Generate a passage that answers this question: where do penguins live?",
    "Summarize the following passage about the history of the printing press.",
    "A transformer is a neural network built from attention and feed-forward layers.",
]
ARCHITECTURES = {
    "llama": (LlamaConfig, LlamaForCausalLM, {"hidden_size": 32}),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, {"hidden_size": 48, "head_dim": 12}),
}


def make_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (about 400 tokens) trained on CORPUS."""
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 5, trainer=trainer)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def make_backbone(arch: str, vocab_size: int, **overrides) -> torch.nn.Module:
    """A 2-layer random causal LM of the given architecture, deterministic."""
    config_cls, model_cls, sizes = ARCHITECTURES[arch]
    config = config_cls(
        vocab_size=vocab_size,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
        **{**sizes, **overrides},
    )
    torch.manual_seed(0)
    return model_cls(config).eval()


def save_backbone(path: Path, arch: str, **overrides) -> str:
    """Saves a tiny backbone of `arch` and its tokenizer to `path` (as from_pretrained reads them); returns the path."""
    tokenizer = make_tokenizer()
    model = make_backbone(arch, overrides.pop("vocab_size", len(tokenizer)), **overrides)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}{% if add_generation_prompt %}<s>{% endif %}"
)
"""A minimal chat template for the tiny tokenizer: generation, HyDE and decoding need one."""


def save_chat_backbone(path: Path, arch: str = "llama") -> str:
    """A tiny random backbone whose tokenizer has :data:`CHAT_TEMPLATE`."""
    from transformers import AutoTokenizer

    backbone = save_backbone(path, arch)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(backbone)
    return backbone
