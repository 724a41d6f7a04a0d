"""One model used from several threads, and sentence-transformers' multi-process pool: the same vectors as one
sequential call. (Self-contained models in the pool: tests/models/test_multi_process.py.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

TEXTS = [f"Question {i}: where do polar bears live{'?' * (i % 5)}" for i in range(24)]


def test_threads_sharing_one_model_get_the_sequential_vectors(model):
    expected = model.encode(TEXTS, batch_size=4)
    chunks = [TEXTS[i::4] for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda chunk: model.encode(chunk, batch_size=2), chunks * 3))
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, expected[i % 4 :: 4], rtol=0, atol=1e-5)


def test_threads_decoding_at_once_get_the_sequential_texts(model):
    module = model[0]
    expected = module.decode(TEXTS[:6], max_new_tokens=4)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda text: module.decode([text], max_new_tokens=4)[0], TEXTS[:6]))
    assert results == expected


def test_encoding_while_another_thread_runs_backward(model):
    """Gradient mode is per thread: inference in one thread is exact while another backpropagates."""
    module = model[0]
    expected = model.encode(TEXTS[:4])
    stop = threading.Event()

    def forward_backward() -> None:
        while not stop.is_set():
            out = module(module.preprocess(TEXTS[:2]))["sentence_embedding"]
            out.sum().backward()  # gradients only, the weights never change: encode must stay exact
            module.zero_grad()

    worker = threading.Thread(target=forward_backward)
    worker.start()
    try:
        results = [model.encode(TEXTS[:4]) for _ in range(5)]
    finally:
        stop.set()
        worker.join()
    for result in results:
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-5)


def test_multi_process_pool_equals_one_process(saved_model):
    model = SentenceTransformer(str(saved_model), trust_remote_code=True)
    single = model.encode_query(TEXTS)
    pooled = model.encode_query(TEXTS, device=["cpu", "cpu"], chunk_size=5)  # several chunks: both workers work
    assert pooled.shape == single.shape and np.abs(pooled - single).max() <= 1e-5
    assert torch.get_num_threads() == 1  # this process is untouched by the pool
