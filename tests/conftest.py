"""Fixtures shared by every test folder: tiny random backbones saved once per session (helpers in tiny_models.py)."""

from __future__ import annotations

import os

import pytest
from tiny_models import ARCHITECTURES, save_backbone

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub


@pytest.fixture(scope="session", params=sorted(ARCHITECTURES))
def backbone_path(request, tmp_path_factory) -> str:
    """Directory of a tiny random backbone, once per architecture."""
    return save_backbone(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="session")
def llama_path(tmp_path_factory) -> str:
    """Directory of a tiny random Llama backbone."""
    return save_backbone(tmp_path_factory.mktemp("llama"), "llama")
