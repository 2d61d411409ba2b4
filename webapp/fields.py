"""The search fields, each declared once: its name, its dimensions, the models its vectors come
from and how they are composed. The schemas, the embedding code, both stores, the OpenAPI
document, the benchmark and the validation notebooks all derive what they need from here.

* ``embedding384d``: all-MiniLM-L6-v2, mean pooled, L2-normalised.
* ``embedding768d``: all-mpnet-base-v2, mean pooled, L2-normalised.
* ``embedding1155d``: ``[e384 ‖ e768 ‖ p] / ‖[e384 ‖ e768 ‖ p]‖`` where e384 and e768 are the
  unit vectors above and ``p`` is the sentiment distribution [positive, negative, neutral]
  (sums to 1). Its cosine is therefore ``(cos384 + cos768 + p_q·p_d) / (n_q · n_d)`` with
  ``n = sqrt(2 + ‖p‖²)``: the two text similarities plus agreement in tone.

Every vector is stored unit-length, so a dot product is the cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTIMENT_LABELS = ("positive", "negative", "neutral")
# The name under which an index records the sentiment model that built its vectors.
SENTIMENT = "sentiment"
# Recorded by every index; a change to how any field is composed must change it.
COMPOSITION = "embedding1155d=l2norm(concat(minilm384_unit, mpnet768_unit, sentiment[positive,negative,neutral]))/v1"


@dataclass(frozen=True)
class SearchField:
    name: str
    dims: int
    description: str
    # The sentence-transformer (a model cache name) that encodes this field's text, or None for a
    # field composed of other fields.
    encoder: str | None = None
    # For a composed field: the encoded fields it concatenates, then the sentiment distribution.
    parts: tuple[str, ...] = ()

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The recorded models the field's vectors depend on (keys of an index's ``models``): a
        search is refused when the index recorded another model for any of them."""
        return (self.name,) if self.encoder else (*self.parts, SENTIMENT)


_ENCODED = (
    SearchField("embedding384d", 384, "all-MiniLM-L6-v2 sentence embedding", encoder="all-MiniLM-L6-v2"),
    SearchField("embedding768d", 768, "all-mpnet-base-v2 sentence embedding", encoder="all-mpnet-base-v2"),
)
FIELDS: tuple[SearchField, ...] = (
    *_ENCODED,
    SearchField(
        "embedding1155d",
        sum(f.dims for f in _ENCODED) + len(SENTIMENT_LABELS),
        "384 ‖ 768 ‖ financial sentiment [positive, negative, neutral], L2-normalised",
        parts=tuple(f.name for f in _ENCODED),
    ),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
FIELD_NAMES = tuple(FIELD_BY_NAME)
FIELD_DIMS = {f.name: f.dims for f in FIELDS}
# The fields a sentence-transformer encodes directly, and the model of each.
ENCODED_FIELDS = {f.name: f.encoder for f in FIELDS if f.encoder}
EMBEDDING_MODELS = tuple(ENCODED_FIELDS.values())
# Everything any field depends on: what an index must agree with the service on to be written.
ALL_PARTS = tuple(dict.fromkeys(part for f in FIELDS for part in f.depends_on))
