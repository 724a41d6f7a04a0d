"""Trains an LLM2Vec-Gen head from a YAML recipe (fields of st_llm2vec_gen.training.TrainConfig).

    python training/train.py training/configs/smollm2-135m-cpu.yaml [--set key=value ...]
    torchrun --nproc_per_node 2 training/train.py training/configs/qwen3-8b.yaml      # multi-GPU (DDP)

Resume an interrupted run with --set resume_from_checkpoint=true (the latest checkpoint in output_dir).
"""

import argparse
import logging

import yaml

from st_llm2vec_gen.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML recipe")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    train(TrainConfig.from_yaml(args.config, **overrides))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
