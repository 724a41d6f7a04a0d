"""Default instructions: each describes the *answer* the LLM should produce, as in the LLM2Vec-Gen paper.

Keys are ST prompt names that mteb also understands (``query``/``document`` and mteb task types), so
``encode_query``/``encode_document`` and mteb evaluation pick the right one. Retrieval documents get the
summarise instruction through ``document``; there is deliberately no bare ``Retrieval`` key, which mteb would use for
documents too.
"""

QUERY = "Generate a passage that answers this question:"
DOCUMENT = "Summarize the following passage:"

DEFAULT_PROMPTS: dict[str, str] = {
    "query": QUERY,
    "document": DOCUMENT,
    "STS": "Generate text that is semantically similar to this text:",
    "Classification": "Describe the topic and intent of this text:",
    "Clustering": "Name the main subject of this text:",
    "Retrieval-query": QUERY,
    "Retrieval-document": DOCUMENT,
}
