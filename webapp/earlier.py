"""The earlier system's news records, and the one mapping that turns each into one of ours.

The earlier version of this service kept its news in Elasticsearch and answered searches with
records of its own shape. Two shapes come from it:

* ``earlier-api``: a result record of its search API, as its clients saved and exported them:
  ``id, score, title, summary, full_text, url, date`` (GDELT's ``YYYYMMDDhhmmss``),
  ``published_dt`` (ISO 8601, may be empty), ``rag_doc_url``, ``sentiment {label, score}``,
  ``themes, organizations``. No source: the outlet is the URL's host.
* ``earlier-es``: a document of its Elasticsearch index (``news_finbert_embeddings`` and dated
  indices), either as an Elasticsearch hit ``{"_id", "_source", ...}`` (what a scan or an export
  gives) or as a bare ``_source`` with an ``id``. Most fields have several spellings; themes and
  organizations are lists or strings (GDELT's ``V2Themes`` is ``THEME,offset;THEME,offset``);
  three vectors (384-d MiniLM, 768-d mpnet, and a 1,155-d one whose last three numbers came
  from a keyword heuristic).

:data:`MAPPING` declares, for each of our fields, the earlier names it is read from (in order of
preference) and the rule. The table of docs/moving-from-the-earlier-api.md is generated from it
(:func:`markdown_table`; a test keeps the two equal), :func:`detect` derives from it which shape a
record has, and :func:`map_record` applies it for both `flask ingest` (files) and `flask es import-earlier` (a
live earlier index). What an earlier record holds beyond its shape's fields is ignored and named,
never a reason to refuse it; what our schema cannot keep of a record is said per record
(:attr:`MappedRecord.notes`); a record that lacks what ours requires is refused with the reason
(:class:`UnmappableRecord`). Our own records (``native``) are not mapped: they are validated as
strictly as ever.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from webapp.fields import ENCODED_FIELDS, FIELD_DIMS
from webapp.schemas import LIST_MAX_ITEMS, SHORT_TEXT_MAX, NewsRecord

EARLIER_API = "earlier-api"
EARLIER_ES = "earlier-es"
NATIVE = "native"
FORMATS = (EARLIER_API, EARLIER_ES, NATIVE)

# What an Elasticsearch hit carries beside its _source: metadata, never the record's content.
HIT_METADATA = frozenset(
    {
        "_index", "_id", "_score", "_type", "_version", "_seq_no", "_primary_term", "_routing", "_ignored",
        "_source", "sort", "fields", "highlight", "matched_queries", "inner_hits", "_explanation", "_shard", "_node",
    }
)  # fmt: skip
# The earlier names that hold GDELT's timestamp form rather than ISO 8601.
GDELT_NAMES = frozenset({"date", "DATE"})
# GDELT's timestamp, or its date alone.
_GDELT_FORMS = {14: "%Y%m%d%H%M%S", 8: "%Y%m%d"}
# The earlier vectors and the model that made each: our field encoded by the same model may
# reuse them (webapp.ingest checks a sample first). The 1,155-d one is never reused.
EARLIER_VECTOR_MODELS = {"embedding_384d": "all-MiniLM-L6-v2", "embedding_768d": "all-mpnet-base-v2"}
EARLIER_VECTORS = {
    earlier: next(ours for ours, model in ENCODED_FIELDS.items() if model == earlier_model)
    for earlier, earlier_model in EARLIER_VECTOR_MODELS.items()
}  # earlier name -> our field
_LIST_SEPARATORS = re.compile(r"[;,]")


@dataclass(frozen=True)
class FieldRule:
    """Where one of our fields comes from in each earlier shape. ``ours`` is None for an
    earlier field that is read but not kept (the rule says why)."""

    ours: str | None
    api: tuple[str, ...]  # names in the earlier API's result records, preferred first
    es: tuple[str, ...]  # names in the earlier Elasticsearch documents (``_id``: the hit's)
    kind: str  # how the value is read: id, value (as is), date, host, terms, vector, or dropped
    rule: str

    def names(self, shape: str) -> tuple[str, ...]:
        return self.api if shape == EARLIER_API else self.es


_TERMS_RULE = (
    f"a list, or a string split at `;` and `,`; numbers dropped (GDELT's character offsets), then duplicates; "
    f"the first {LIST_MAX_ITEMS} kept, each at most {SHORT_TEXT_MAX} characters (what is not kept is noted)"
)
MAPPING: tuple[FieldRule, ...] = (
    FieldRule("id", ("id",), ("_id", "id"), "id", "as is (a number becomes text); a bare document needs an `id`"),
    FieldRule("title", ("title",), ("news_title", "title"), "value", "as is"),
    FieldRule("summary", ("summary",), ("news_summary", "summary"), "value", "as is; empty: none"),
    FieldRule("body", ("full_text",), ("news_body", "full_text"), "value", "as is; empty: none"),
    FieldRule("url", ("url",), ("url",), "value", "as is"),
    FieldRule(
        "published_dt",
        ("published_dt", "date"),
        ("published_dt", "published_at", "date", "DATE"),
        "date",
        "the ISO 8601 field (a time without zone is UTC); when it is empty or missing, the GDELT `date` "
        "(`YYYYMMDDhhmmss` or `YYYYMMDD`, UTC); neither: refused",
    ),
    FieldRule(
        "source",
        ("url",),
        ("url",),
        "host",
        "the URL's host, lower-case, without `www.` (the earlier records name no outlet); no URL: refused",
    ),
    FieldRule("doc_type", (), ("doc_type",), "value", "as is; missing: `news`"),
    FieldRule("themes", ("themes",), ("V2Themes", "v2_themes", "themes"), "terms", _TERMS_RULE),
    FieldRule("organizations", ("organizations",), ("V2Organizations", "organizations"), "terms", _TERMS_RULE),
    FieldRule("quality_score", (), ("quality_score",), "value", "as is (0 to 1)"),
    FieldRule(None, ("score",), (), "dropped", "not kept: the earlier search's score for its query"),
    FieldRule(None, ("sentiment",), ("sentiment",), "dropped", "not kept: our sentiment model scores every document"),
    FieldRule(None, ("rag_doc_url",), (), "dropped", "not kept: our records have no such link"),
    FieldRule(None, (), ("usable_for_rag",), "dropped", "not kept"),
    *(
        FieldRule(
            None,
            (),
            (earlier,),
            "vector",
            f"`flask es import-earlier` reuses it as `{ours}` after the sample check; otherwise `{ours}` is "
            "computed again",
        )
        for earlier, ours in EARLIER_VECTORS.items()
    ),
    FieldRule(
        None,
        (),
        ("embedding_enhanced",),
        "vector",
        "not kept: its tone came from a keyword heuristic and it is not normalised; ours is always composed "
        "again with our sentiment model",
    ),
)
SHAPE_NAMES = {
    EARLIER_API: frozenset(name for rule in MAPPING for name in rule.api),
    EARLIER_ES: frozenset(name for rule in MAPPING for name in rule.es) - {"_id"},
}
_NATIVE_NAMES = frozenset(NewsRecord.model_fields)
# What tells the shapes apart (detect): names only one of them uses.
_ES_ONLY = SHAPE_NAMES[EARLIER_ES] - SHAPE_NAMES[EARLIER_API] - _NATIVE_NAMES
_NATIVE_ONLY = _NATIVE_NAMES - SHAPE_NAMES[EARLIER_API] - SHAPE_NAMES[EARLIER_ES]
_EARLIER_ONLY = (SHAPE_NAMES[EARLIER_API] | SHAPE_NAMES[EARLIER_ES]) - _NATIVE_NAMES
_ES_NOT_API = (SHAPE_NAMES[EARLIER_ES] & _NATIVE_NAMES) - SHAPE_NAMES[EARLIER_API]


class UnmappableRecord(ValueError):
    """An earlier record without what ours requires; the message says what is missing."""


@dataclass(frozen=True)
class MappedRecord:
    values: dict[str, object]  # our NewsRecord's fields, to be validated
    origin: dict[str, str]  # our field -> the earlier name(s) it was read from, for error messages
    ignored: tuple[str, ...] = ()  # fields the shape does not declare
    notes: tuple[str, ...] = ()  # what our schema could not keep of this record
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # our field -> the earlier unit vector


def detect(row: Mapping[str, object]) -> tuple[str, tuple[str, ...]]:
    """The shape of one record, and the field names that show it, by the first rule that holds:
    an Elasticsearch hit (``_source``) or a name only the earlier documents use: earlier-es; a
    name only ours use (``body``, ``source``): native; a name of the earlier shapes that ours
    lack (``full_text``, ``date``, ``score``...): earlier-es if it also has a name the earlier
    documents share with ours but the API never sent (``doc_type``, ``quality_score``), else
    earlier-api; otherwise native."""
    keys = set(row)
    if "_source" in keys:
        return EARLIER_ES, ("_source",)
    for names, shape in ((_ES_ONLY, EARLIER_ES), (_NATIVE_ONLY, NATIVE)):
        if keys & names:
            return shape, tuple(sorted(keys & names))
    if keys & _EARLIER_ONLY:
        if keys & _ES_NOT_API:
            return EARLIER_ES, tuple(sorted(keys & (_EARLIER_ONLY | _ES_NOT_API)))
        return EARLIER_API, tuple(sorted(keys & _EARLIER_ONLY))
    return NATIVE, ()


def parse_gdelt_date(value: object) -> dt.datetime:
    """GDELT's ``YYYYMMDDhhmmss`` (or ``YYYYMMDD``), as text or a number, in UTC."""
    text = str(value).strip()
    form = _GDELT_FORMS.get(len(text)) if text.isdigit() else None
    if form is None:
        raise ValueError(f"{value!r} is not a GDELT date (YYYYMMDDhhmmss)")
    try:
        return dt.datetime.strptime(text, form).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"{value!r} is not a GDELT date (YYYYMMDDhhmmss)") from None


def outlet_of(url: object) -> str:
    """The outlet an earlier record came from: its URL's host, lower-case, without ``www.``."""
    try:
        host = urlsplit(str(url).strip()).hostname
    except ValueError:
        host = None
    if not host:
        raise UnmappableRecord(f"url {url!r} has no host, and the outlet (our source) is the URL's host")
    return host.removeprefix("www.")


def split_terms(value: object, name: str) -> tuple[list[object], list[str]]:
    """Themes or organizations as our schema keeps them, and notes on what it cannot keep."""
    if isinstance(value, str):
        items: list[object] = [part.strip() for part in _LIST_SEPARATORS.split(value)]
        items = [part for part in items if part and not part.isdigit()]
    elif isinstance(value, list):
        items = [item.strip() if isinstance(item, str) else item for item in value]
        items = [item for item in items if item != ""]
    else:
        return [value], []  # not a list: our schema says why
    unique = list(dict.fromkeys(items))
    notes = []
    too_long = [item for item in unique if isinstance(item, str) and len(item) > SHORT_TEXT_MAX]
    if too_long:
        notes.append(f"{name}: {len(too_long)} longer than {SHORT_TEXT_MAX} characters not kept")
        unique = [item for item in unique if item not in too_long]
    if len(unique) > LIST_MAX_ITEMS:
        notes.append(f"{name}: {len(unique)} given, the first {LIST_MAX_ITEMS} kept")
        unique = unique[:LIST_MAX_ITEMS]
    return unique, notes


def earlier_vector(value: object, ours: str) -> np.ndarray | None:
    """An earlier vector as a unit float32 row for our field, or None when it cannot be one
    (missing, another length, not finite, all zeros)."""
    if not isinstance(value, list) or len(value) != FIELD_DIMS[ours]:
        return None
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return vector / norm


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == []


def map_record(row: Mapping[str, object], shape: str) -> MappedRecord:
    """One earlier record of ``shape`` (earlier-api or earlier-es) as our record's fields."""
    hit_id = None
    ignored: set[str] = set()
    source = row
    if shape == EARLIER_ES and "_source" in row:
        source = row["_source"]
        if not isinstance(source, Mapping):
            raise UnmappableRecord("_source is not a JSON object")
        hit_id = row.get("_id")
        ignored.update(name for name in row if name not in HIT_METADATA)
    ignored.update(name for name in source if name not in SHAPE_NAMES[shape])
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    notes: list[str] = []
    for rule in MAPPING:
        if rule.ours is None:
            continue
        names = [name for name in rule.names(shape) if name != "_id"]
        present = [(name, source[name]) for name in names if name in source and not _blank(source[name])]
        if rule.kind == "id" and not _blank(hit_id):
            present.insert(0, ("_id", hit_id))
        origin[rule.ours] = present[0][0] if present else " or ".join(rule.names(shape)) or "(none)"
        if not present:
            if rule.kind == "id":
                raise UnmappableRecord(
                    "no id: give the Elasticsearch hit with its _id, or an id field" if shape == EARLIER_ES else "no id"
                )
            if rule.kind == "date":
                raise UnmappableRecord(f"no publication date: {' and '.join(names)} are all empty or missing")
            if rule.kind == "host":
                raise UnmappableRecord("no url, and the outlet (our source) is the URL's host")
            continue
        name, value = present[0]
        if rule.kind == "id":
            values["id"] = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        elif rule.kind == "date" and name in GDELT_NAMES:
            try:
                values[rule.ours] = parse_gdelt_date(value)
            except ValueError as exc:
                raise UnmappableRecord(f"{name}: {exc}") from None
        elif rule.kind == "host":
            values[rule.ours] = outlet_of(value)
        elif rule.kind == "terms":
            values[rule.ours], term_notes = split_terms(value, name)
            notes += term_notes
        else:
            values[rule.ours] = value
    vectors = {}
    if shape == EARLIER_ES:
        for earlier, ours in EARLIER_VECTORS.items():
            vector = earlier_vector(source.get(earlier), ours)
            if vector is not None:
                vectors[ours] = vector
    return MappedRecord(values, origin, tuple(sorted(ignored)), tuple(notes), vectors)


def markdown_table() -> str:
    """The field-by-field table of docs/moving-from-the-earlier-api.md."""

    def names(found: tuple[str, ...]) -> str:
        return " or ".join(f"`{name}`" for name in found) or "–"

    rows = ["| ours | earlier API result | earlier Elasticsearch document | how |", "|---|---|---|---|"]
    for rule in MAPPING:
        ours = f"`{rule.ours}`" if rule.ours else "–"
        rows.append(f"| {ours} | {names(rule.api)} | {names(rule.es)} | {rule.rule} |")
    return "\n".join(rows)
