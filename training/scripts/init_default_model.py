"""Writes the initial (untrained) embedded default model into the package: SmolLM2-135M-Instruct + a fresh head.

    python training/scripts/init_default_model.py [--overwrite]

The training recipe replaces this head with a trained one; this script only sets up the directory layout.
"""

import argparse
import logging
import os

from st_llm2vec_gen import DEFAULT_MODEL, EMBEDDED_BACKBONE, create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=DEFAULT_MODEL)
    parser.add_argument("--num-tokens", type=int, default=10)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    args = parser.parse_args()
    if os.path.isdir(args.output) and os.listdir(args.output) and not args.overwrite:
        raise SystemExit(f"{args.output} is not empty: pass --overwrite to replace it")
    model = create_model(EMBEDDED_BACKBONE, num_tokens=args.num_tokens)
    model.save(args.output, create_model_card=False)
    logging.info("Wrote %s", args.output)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
