"""Read an embedding: decode its soft prompt back to text with the frozen LLM, and list its logit-lens tokens.

    python examples/decoding.py [--model PATH] ["your question" ...]

Next to each decoding the script prints the LLM's own answer to the query: the embedding is trained to encode it.
"""

import argparse

from sentence_transformers import SentenceTransformer

from st_llm2vec_gen import DEFAULT_MODEL
from st_llm2vec_gen.generation.responses import GenerationSettings, answer

QUERIES = ["Where do polar bears live?", "What is the capital of France?", "How do I bake bread?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queries", nargs="*", default=QUERIES)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    args = parser.parse_args()

    module = SentenceTransformer(args.model, trust_remote_code=True)[0]
    decoded = module.decode(args.queries, max_new_tokens=args.max_new_tokens)  # text from R(h), batched
    keywords = module.logit_lens(args.queries, top_k=8)  # LM head over the compression states
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    answers = answer(module.backbone, module.tokenizer, args.queries, settings)  # the LLM's own greedy answer
    for query, text, words, reply in zip(args.queries, decoded, keywords, answers):
        print(f"Query:      {query}\nDecoded:    {text}\nLogit lens: {words}\nLLM answer: {reply}\n")


if __name__ == "__main__":
    main()
