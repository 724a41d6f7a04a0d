"""Runs ``llm2vec-gen ARGS`` with every training step slowed by SECONDS, so a test can kill it mid-run.

    python tests/reliability/slow_train.py SECONDS train RECIPE

The tiny test model trains in milliseconds per step; the pause gives tests/reliability/test_interruptions.py a wide
window to send SIGKILL between two checkpoints. Nothing else changes.
"""

from __future__ import annotations

import sys
import time

from st_llm2vec_gen.cli.main import main
from st_llm2vec_gen.training import run as training

PAUSE = float(sys.argv.pop(1))
_step_end = training.StopAtStep.on_step_end


def slow_step_end(self, args, state, control, **kwargs):
    time.sleep(PAUSE)
    return _step_end(self, args, state, control, **kwargs)


training.StopAtStep.on_step_end = slow_step_end

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
