#!/usr/bin/env bash
# Generates, or continues, SmolLM2-135M-Instruct's answers to the training-query corpus (training/data/corpus/).
#
#   bash training/scripts/generate_corpus.sh          # after setup.sh, from any directory; safe to kill and re-run
#
# It first makes the plain files `llm2vec-gen generate` reads from the committed gzips (queries.jsonl from
# queries.jsonl.gz; responses.jsonl from the responses.jsonl.gz snapshot when there is no live file yet), then
# answers the queries not yet answered, in file order, with the settings of training/data/corpus/SOURCES.md.
# In float32, as the committed answers were made (the generator's name records any other dtype). One torch thread
# by default (OMP_NUM_THREADS overrides it). Snapshot progress with snapshot_responses.py.
# Other options go to `llm2vec-gen generate`, e.g. `--where source=squad_passages` answers that source's queries
# first (row ids stay the same, so a later run without it answers the rest).
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=training/data/corpus
.venv/bin/python training/scripts/snapshot_responses.py --restore
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/llm2vec-gen generate --queries "$corpus/queries.jsonl" --output "$corpus/responses.jsonl" \
    --dtype float32 --max-new-tokens 96 --batch-size 32 --do-sample false --max-query-length 512 "$@"
