"""Converting published-format checkpoints: parity with a reference computed from the method's definition."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModelForCausalLM, AutoTokenizer

from interop.published_format import build, projection
from st_llm2vec_gen.convert import ConversionError, convert_checkpoint, parse_run_config

TEXTS = ["Where do polar bears live?", "The capital of France is Paris.", "Photosynthesis"]


def reference(checkpoint, truth: dict, backbone_path: str, text: str) -> tuple[torch.Tensor, list[int]]:
    """The published model's computation, one text, no padding: text + special tokens through the resized
    embedding matrix, last K hidden states, R then A, mean; and greedy decoding from R(h) without cache."""
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(backbone_path).eval()
    base = model.get_input_embeddings().weight.detach()
    matrix = torch.cat([base, torch.zeros(len(truth["ids"]), base.shape[1])])
    matrix[truth["ids"]] = truth["rows"]
    ids = tokenizer(text + "".join(truth["special"]))["input_ids"]
    with torch.no_grad():
        hidden = model.model(inputs_embeds=matrix[ids][None]).last_hidden_state[0, -truth["encoded"] :]  # (K, H)
        soft = hidden @ truth["R"][0].T + truth["R"][1]  # (K, H)
        embedding = (soft @ truth["A"][0].T + truth["A"][1]).mean(0)  # (D,)
        generated: list[int] = []
        for _ in range(8):
            inputs = torch.cat([soft, base[generated]])[None]
            next_id = model(inputs_embeds=inputs).logits[0, -1].argmax().item()
            if next_id == model.generation_config.eos_token_id:
                break
            generated.append(next_id)
    return embedding, generated


@pytest.mark.parametrize(("num_tokens", "encoded", "full_matrix"), [(10, 10, False), (20, 10, True)])
def test_converted_model_matches_the_reference(
    backbone_path, tmp_path, num_tokens, encoded, full_matrix, monkeypatch
):
    # a CPU with fast bf16: the default load must still be float32, as the checkpoint's run_config.yml says
    monkeypatch.setenv("ST_LLM2VEC_GEN_CPU_DTYPE", "bfloat16")
    truth = build(tmp_path / "published", backbone_path, num_tokens, encoded, full_matrix=full_matrix)
    convert_checkpoint(str(tmp_path / "published"), str(tmp_path / "converted"))
    model = SentenceTransformer(str(tmp_path / "converted"), trust_remote_code=True)  # the default load
    module = model[0]
    assert module.backbone.dtype == torch.float32
    assert (module.num_tokens, module.num_encoded_tokens, model.get_embedding_dimension()) == (num_tokens, encoded, 24)
    embeddings = model.encode(TEXTS, convert_to_tensor=True)  # one batch, mixed lengths
    decoded = module.decode(TEXTS, max_new_tokens=8)
    assert any(decoded)  # the comparison below is not vacuous
    for text, embedding, text_decoded in zip(TEXTS, embeddings, decoded):
        expected, generated = reference(tmp_path / "published", truth, backbone_path, text)
        assert (embedding - expected).abs().max().item() <= 1e-5
        assert text_decoded == module.tokenizer.decode(generated, skip_special_tokens=True).strip()


def test_run_config_str_values(tmp_path):
    (tmp_path / "run_config.yml").write_text(
        "model_name_or_path: Qwen/Qwen3-8B\nspecial_tokens: ['<question1>', '<question2>']\nlora_r: None\n"
        "bf16: True\nmax_input_length: 512\nencoding_mode: last_10_tokens\n"
    )
    config = parse_run_config(tmp_path / "run_config.yml")
    assert config == {
        "model_name_or_path": "Qwen/Qwen3-8B",
        "special_tokens": ["<question1>", "<question2>"],
        "lora_r": None,
        "bf16": True,
        "max_input_length": 512,
        "encoding_mode": "last_10_tokens",
    }


def test_local_base_model_override_records_its_vocabulary(llama_path, tmp_path):
    build(tmp_path / "pub", llama_path, 4, 4)
    convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "out"), base_model=llama_path)
    config = json.loads((tmp_path / "out" / "llm2vec_gen_config.json").read_text())
    assert config["backbone_name_or_path"] == llama_path and config["vocab_size"] == 400


def test_refuses_to_overwrite_and_explains_bad_checkpoints(llama_path, tmp_path):
    build(tmp_path / "pub", llama_path, 4, 4)
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / "mine.txt").read_text() == "keep me"

    (tmp_path / "pub" / "encoder_decoder_config.json").write_text('{"encoding_mode": "mean_tokens"}')
    with pytest.raises(ConversionError, match="unknown encoding mode 'mean_tokens'"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "new"))
    (tmp_path / "pub" / "encoder_decoder_config.json").write_text('{"encoding_mode": "last_9_tokens"}')
    with pytest.raises(ConversionError, match="more tokens than the 4"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "new"))
    (tmp_path / "pub" / "encoder_decoder_config.json").write_text('{"encoding_mode": "last_4_tokens"}')
    projection(tmp_path / "pub" / "reconstruction_mlp", torch.zeros(8, 32), torch.zeros(8))
    with pytest.raises(ConversionError, match="reconstruction_mlp"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "new"))
    (tmp_path / "pub" / "alignment_mlp").unlink()
    with pytest.raises(ConversionError, match="missing \\['alignment_mlp'\\]"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()  # nothing written on failure


def test_projection_pickles_are_loaded_safely(llama_path, tmp_path):
    build(tmp_path / "pub", llama_path, 4, 4)

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled arbitrary code",))

    torch.save({"state_dict": Evil(), "config": {}}, tmp_path / "pub" / "alignment_mlp")
    with pytest.raises(ConversionError, match="safely"):
        convert_checkpoint(str(tmp_path / "pub"), str(tmp_path / "new"))
