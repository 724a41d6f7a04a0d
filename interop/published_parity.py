"""Parity with the real published package: the same checkpoint through `llm2vec-gen` and through our converter.

    bash interop/setup_published_venv.sh  # .venv-published: llm2vec-gen --no-deps, transformers 4.56.2, peft 0.18.0
    .venv/bin/python -m interop.published_parity    # from the repo root: max embedding difference, decoded texts

A published-format checkpoint with random trained weights (seeded) is built around the embedded SmolLM2-135M
backbone. The published side reads it from a copy whose config.json is spelled for transformers 4.x (`rope_theta` at
the top level: 4.56 ignores transformers 5's `rope_parameters` and would silently use 10,000 instead of 100,000); we
point the converted model at the cached copy itself with `base_model`. The published package encodes and greedily
decodes with its own code; we convert the checkpoint and do the same. Texts are encoded one at a time: the published
encoder computes position ids without regard to left padding, so its embeddings of padded batch members differ from
its own unpadded ones (ours do not), and per-text encoding compares like with like.
"""

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from interop.published_format import build, legacy_copy
from st_llm2vec_gen.convert import convert_checkpoint
from st_llm2vec_gen.models.backbones import cached_gguf, embedded_gguf_path

ROOT = Path(__file__).parents[1]

TEXTS = [
    "Where do polar bears live?",
    "How do plants make their food from sunlight?",
    "Summarize the following passage: The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
]

PUBLISHED_SIDE = r"""
import json, sys
import numpy as np, torch
from transformers import PreTrainedTokenizerFast
from llm2vec_gen.models import LLM2VecGenModel
from llm2vec_gen.models.modeling_encoder_decoder import EncoderDecoderModel

checkpoint, backbone, out = sys.argv[1], sys.argv[2], sys.argv[5]
special, texts = json.loads(sys.argv[3]), json.loads(sys.argv[4])
# transformers 5 saved the backbone's tokenizer class under a name 4.56 lacks: rebuild it from tokenizer.json
saved = json.load(open(backbone + "/tokenizer_config.json"))
keys = ("bos_token", "eos_token", "pad_token", "unk_token")
names = {k: v for k, v in saved.items() if k in keys and isinstance(v, str)}
tokenizer = PreTrainedTokenizerFast(tokenizer_file=backbone + "/tokenizer.json", **names)
tokenizer.add_special_tokens({"additional_special_tokens": special})
tokenizer.padding_side = "left"
tokenizer.save_pretrained(checkpoint)
inner = EncoderDecoderModel.from_pretrained(checkpoint, causal_lm_decoder=True)
model = LLM2VecGenModel(inner, tokenizer, device="cpu")
model.model.eval()
embeddings = np.stack([model.encode([t])[0].float().numpy() for t in texts])
decoded = []
for text in texts:  # LLM2VecGenModel.generate hard-codes cuda: call the inner model's greedy loop directly
    ids = tokenizer([text + "".join(special)], return_tensors="pt")
    out_ids = model.model.generate(ids["input_ids"], ids["attention_mask"], max_new_tokens=24)
    decoded.append(tokenizer.batch_decode(out_ids, skip_special_tokens=True)[0].strip())
np.save(out, embeddings)
json.dump(decoded, open(out + ".json", "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published-python", default=str(ROOT / ".venv-published" / "bin" / "python"))
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    backbone = str(cached_gguf(embedded_gguf_path()))
    with tempfile.TemporaryDirectory() as tmp:
        legacy = legacy_copy(backbone, Path(tmp) / "base-v4")
        truth = build(Path(tmp) / "published", legacy, num_tokens=10, encoded=10, dim=64, seed=0)
        out = str(Path(tmp) / "published.npy")
        cmd = [args.published_python, "-c", PUBLISHED_SIDE, str(Path(tmp) / "published"), legacy,
               json.dumps(truth["special"]), json.dumps(TEXTS), out]  # fmt: skip
        subprocess.run(cmd, check=True)
        theirs, their_text = np.load(out), json.load(open(out + ".json"))
        convert_checkpoint(str(Path(tmp) / "published"), str(Path(tmp) / "converted"), base_model=backbone)
        model = SentenceTransformer(str(Path(tmp) / "converted"), trust_remote_code=True)
        ours = np.stack([model.encode([t])[0] for t in TEXTS])
        batched = model.encode(TEXTS)
        our_text = model[0].decode(TEXTS, max_new_tokens=24)
    diff = float(np.abs(ours - theirs).max())
    print(f"max |embedding difference| per text: {diff:.3e} (embedding max |value| {np.abs(theirs).max():.3f})")
    print(f"ours batched vs ours one-by-one: {float(np.abs(batched - ours).max()):.3e}")
    cosine = torch.nn.functional.cosine_similarity(torch.tensor(ours), torch.tensor(theirs), dim=1)
    print(f"cosine(ours, theirs) min: {cosine.min().item():.8f}")
    for a, b in zip(our_text, their_text):
        print(f"decoded identical: {a == b}\n  ours:      {a!r}\n  published: {b!r}")


if __name__ == "__main__":
    main()
