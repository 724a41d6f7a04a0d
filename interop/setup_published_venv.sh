#!/usr/bin/env bash
# A separate environment with the published llm2vec-gen package, for parity checks only (it pins old transformers).
# --no-deps skips its flash-attn / torch 2.6 pins; torch 2.13.0 is the CPU build on our machines.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-published}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q --no-deps "llm2vec-gen==0.1.3"
"$VENV/bin/pip" install -q "transformers==4.56.2" "peft==0.18.0" accelerate safetensors pyyaml
