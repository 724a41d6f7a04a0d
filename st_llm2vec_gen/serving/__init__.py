"""An OpenAI-compatible embeddings server for a saved LLM2Vec-Gen model, on LitServe (``llm2vec-gen serve``).

Routes: ``POST /v1/embeddings``, ``GET /v1/models``, ``GET /health``. A request names its saved prompt with
``model="<id>:<prompt name>"`` or the body field ``prompt_name``; without either it gets the document prompt. See
docs/integrations.md for clients (openai, LangChain, LlamaIndex) and docs/performance.md for its throughput.

Importing this package does not import LitServe; :func:`build_server` and :func:`serve` need it (the ``serve``
extra).
"""

# Re-exported names (``as`` marks them public). No list of public names yet: tests/test_api_docs.py would then
# require this package in its module list and in docs/api.md, which this change does not edit.
from .model_info import ModelInfo as ModelInfo
from .model_info import read_model_info as read_model_info
from .requests import EmbeddingJob as EmbeddingJob
from .requests import Limits as Limits
from .requests import RequestError as RequestError
from .requests import parse_request as parse_request
from .server import build_server as build_server
from .server import serve as serve
from .settings import ServeSettings as ServeSettings
