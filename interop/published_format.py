"""Checkpoints in the published llm2vec-gen format (what docs/convert.md says the converter reads), around a backbone.

Shared by the converter's tests (tests/test_convert.py, tests/test_cli.py), the parity check against the published
package (interop/published_parity.py) and its benchmark (bench/published.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

DELTA_KEY = "base_model.model.embed_tokens.trainable_tokens_delta"
FULL_MATRIX_KEY = "base_model.model.embed_tokens.base_layer.weight"


def projection(path: Path, weight: torch.Tensor, bias: torch.Tensor, pooling_mode: str = "linear") -> None:
    config = {"input_dim": weight.shape[1], "output_dim": weight.shape[0], "dtype": "torch.float32", "size": 1,
              "pooling_mode": pooling_mode}  # fmt: skip
    torch.save({"state_dict": {"projection.weight": weight, "projection.bias": bias}, "config": config}, path)


def build(path: Path, backbone_path: str, num_tokens: int = 10, encoded: int = 10, dim: int = 24,
          full_matrix: bool = False, seed: int = 0) -> dict:  # fmt: skip
    """Writes a published-format checkpoint with random trained weights; returns them for reference computations."""
    generator = torch.Generator().manual_seed(seed)
    path.mkdir(parents=True)
    tokenizer = AutoTokenizer.from_pretrained(backbone_path)
    special = [f"<question{i}>" for i in range(1, num_tokens + 1)]
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(path)
    ids = tokenizer.convert_tokens_to_ids(special)
    base = AutoModelForCausalLM.from_pretrained(backbone_path)
    embeddings = base.get_input_embeddings().weight.detach()  # (V, H)
    hidden = embeddings.shape[1]
    rows = torch.randn(num_tokens, hidden, generator=generator) * 0.1  # trained rows, in `special` order

    (path / "encoder").mkdir()
    encoder = {**base.config.to_dict(), "vocab_size": len(tokenizer), "num_special_tokens": num_tokens,
               "special_tokens": special, "special_tokens_ids": ids}  # fmt: skip
    (path / "encoder" / "config.json").write_text(json.dumps(encoder))
    indices = list(reversed(ids))  # PEFT's order need not be the tokens' order
    (path / "encoder" / "adapter_config.json").write_text(
        json.dumps({"peft_type": "TRAINABLE_TOKENS", "token_indices": indices, "target_modules": ["embed_tokens"]})
    )
    adapter = {DELTA_KEY: torch.stack([rows[ids.index(i)] for i in indices])}
    if full_matrix:  # the resized matrix, with the *initial* (untrained) rows for the new tokens
        adapter[FULL_MATRIX_KEY] = torch.cat([embeddings, torch.zeros(num_tokens, hidden)])
    save_file(adapter, path / "encoder" / "adapter_model.safetensors")

    r_weight, r_bias = torch.randn(hidden, hidden, generator=generator) * 0.2, torch.randn(hidden, generator=generator)
    a_weight, a_bias = torch.randn(dim, hidden, generator=generator) * 0.2, torch.randn(dim, generator=generator)
    projection(path / "reconstruction_mlp", r_weight, r_bias)
    projection(path / "alignment_mlp", a_weight, a_bias)
    run = {"model_name_or_path": backbone_path, "torch_dtype": "float32", "special_tokens": special,
           "encoding_mode": f"last_{encoded}_tokens", "max_input_length": 64, "lora_r": None, "bf16": True}  # fmt: skip
    (path / "run_config.yml").write_text("".join(f"{k}: {v}\n" for k, v in run.items()))  # str() per line
    mode = {"encoding_mode": f"last_{encoded}_tokens", "save_decoder": False}
    (path / "encoder_decoder_config.json").write_text(json.dumps(mode))
    return {"special": special, "ids": ids, "rows": rows, "R": (r_weight, r_bias), "A": (a_weight, a_bias),
            "encoded": encoded}  # fmt: skip


def legacy_copy(backbone: str, target: Path) -> str:
    """The backbone directory with a config.json that transformers 4.x reads correctly (weights symlinked).

    transformers 4.56 (the published package's) ignores transformers 5's ``rope_parameters`` and would silently use
    its default ``rope_theta``: they are moved to the top level, and ``quantization_config`` is dropped.
    """
    target.mkdir()
    for name in os.listdir(backbone):
        if name != "config.json":
            os.symlink(os.path.join(backbone, name), target / name)
    config = json.loads(Path(backbone, "config.json").read_text())
    config.pop("quantization_config", None)
    config.update(config.pop("rope_parameters", {}))  # rope_theta, rope_type
    (target / "config.json").write_text(json.dumps(config))
    return str(target)
