"""Model cards for LLM2Vec-Gen models: ST's card with a usage section that actually works for them.

sentence-transformers generates a README on ``save`` / ``push_to_hub``, but its usage snippet omits
``trust_remote_code=True`` (needed for any module class outside ST) and knows nothing of the backbone, the prompts,
decoding or the training recipe. :class:`LLM2VecGenModelCardData` keeps ST's card and replaces that section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from huggingface_hub import constants
from sentence_transformers import SentenceTransformer, SentenceTransformerModelCardData

PLACEHOLDER = "sentence_transformers_model_id"


@dataclass
class LLM2VecGenModelCardData(SentenceTransformerModelCardData):
    """ST's model card data plus the LLM2Vec-Gen usage section.

    Attributes:
        recipe: The training settings (e.g. ``asdict(TrainConfig)``), shown in the card when set.
        training_data: A line on the training data and its provenance, shown when set.
        evaluation: Markdown on how the model scores (e.g. the evaluation suite's quality table), shown when set.
    """

    recipe: dict[str, Any] | None = None
    training_data: str | None = None
    evaluation: str | None = None
    tags: list[str] = field(
        default_factory=lambda: ["sentence-transformers", "sentence-similarity", "feature-extraction", "llm2vec-gen"]
    )

    def try_to_set_base_model(self) -> None:
        """The frozen backbone is the base model when it is a hub id."""
        name = getattr(self.model[0], "backbone_name_or_path", "")
        if name.count("/") == 1 and not name.startswith(("/", ".", "embedded:")):
            self.set_base_model(name)

    def get_default_model_name(self) -> str:
        return f"LLM2Vec-Gen on {self.base_model or self.model[0].backbone_name_or_path}"

    def generate_usage_snippet(self) -> str:
        """Loading with ``trust_remote_code=True``, prompts, ``encode_query`` / ``encode_document``, decoding."""
        module = self.model[0]
        model_id = self.model_id or PLACEHOLDER
        code = [
            "from sentence_transformers import SentenceTransformer",
            "",
            f'model = SentenceTransformer("{model_id}", trust_remote_code=True)',
            'queries = model.encode_query(["Where do polar bears live?"])  # the "query" prompt is applied',
            'documents = model.encode_document(["Polar bears live on the Arctic sea ice."])  # the "document" prompt',
            f"print(model.similarity(queries, documents))  # shapes: (1, {module.embedding_dim}) each",
            "",
            "# The embedding encodes the LLM's potential answer: decode it back to text with the frozen LLM",
            'print(model[0].decode(["Where do polar bears live?"]))',
        ]
        parts = ["```python\n" + "\n".join(code) + "\n```", self._about(module)]
        if self.model.prompts:
            rows = "\n".join(f"| `{name}` | {text} |" for name, text in self.model.prompts.items())
            parts.append(
                "Prompts (ST `prompt_name`; mteb picks them by task type):\n\n| name | text |\n|---|---|\n" + rows
            )
        if self.training_data:
            parts.append(f"Training data: {self.training_data}")
        if self.recipe:
            settings = "\n".join(f"{key}: {value!r}" for key, value in self.recipe.items() if value is not None)
            parts.append("Training recipe (`llm2vec-gen train`):\n\n```yaml\n" + settings + "\n```")
        if self.evaluation:
            parts.append("Evaluation:\n\n" + self.evaluation)
        return "\n\n".join(parts)

    @staticmethod
    def _about(module: Any) -> str:
        where = (
            "stored in this directory with the module's code: it loads with sentence-transformers alone"
            if module.store_backbone
            else "referred to, not stored: loading needs `pip install st-llm2vec-gen` and access to the backbone"
        )
        return (
            f"LLM2Vec-Gen ([arXiv 2603.10913](https://arxiv.org/abs/2603.10913)): {module.num_tokens} trainable "
            f"compression tokens after the text; the frozen LLM's final states at the last {module.num_encoded_tokens} "
            f"are projected into a soft prompt R(h) (decodable by the same LLM) and pooled into a "
            f"{module.embedding_dim}-dimensional embedding. Frozen backbone `{module.backbone_name_or_path}`, {where}. "
            f"Inputs longer than {module.max_seq_length} tokens (the compression tokens included) are cut at the end."
        )


def use_model_card(model: SentenceTransformer, **fields: Any) -> LLM2VecGenModelCardData:
    """Gives a loaded model the LLM2Vec-Gen card, keeping what ST collected (datasets, losses, metrics).

    Args:
        model: A SentenceTransformer whose first module is an LLM2Vec-Gen module.
        **fields: ``recipe``, ``training_data``, ``evaluation`` or any card data field to set.
    """
    old = model.model_card_data
    if not isinstance(old, LLM2VecGenModelCardData):
        card = LLM2VecGenModelCardData(local_files_only=constants.HF_HUB_OFFLINE)
        kept = {k: v for k, v in vars(old).items() if k not in ("tags", "template_path")}
        vars(card).update(kept)
        card.tags = sorted(set(old.tags or []) | set(card.tags))
        model.model_card_data = card
    for key, value in fields.items():
        setattr(model.model_card_data, key, value)
    return model.model_card_data
