"""Interoperability with the published llm2vec-gen package: its checkpoint format and a parity check against it.

Not part of the installed library. Run from the repository root (``python -m interop.published_parity``); the tests
import it through pytest's ``pythonpath`` (pyproject.toml).
"""
