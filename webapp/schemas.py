"""Every record and message the service reads or writes, declared once with pydantic.

The ingest CLI validates news records with :class:`NewsRecord`; the HTTP API validates requests
with :class:`SearchRequest` and documents responses with :class:`SearchResponse` and
:class:`HealthReport`. ``/openapi.json`` is generated from these classes, so the published
contract and the validation that enforces it cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    computed_field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from webapp.fields import FIELD_NAMES, SENTIMENT_LABELS

EmbeddingField = Literal[FIELD_NAMES]
SentimentLabel = Literal[SENTIMENT_LABELS]

# Limits of a record's short texts (source, doc_type, each theme and organization) and lists.
SHORT_TEXT_MAX = 200
LIST_MAX_ITEMS = 50
# A result's full_text is the body's start, at most this long: a body may hold 100,000
# characters, and 100 of them made a 60-byte request a 10 MB answer. 10,000 characters hold most
# news articles whole.
FULL_TEXT_MAX = 10_000


def _stripped_not_empty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("string_too_short", "String should have at least 1 character", {"min_length": 1})
    return stripped


def StrippedText(max_length: int) -> object:  # noqa: N802 (a type, named as one)
    """A string of 1 to MAX_LENGTH characters as sent, the bounds /openapi.json gives, then
    stripped of surrounding whitespace, and refused if nothing is left. Bounding the text after
    stripping would accept a body the published schema calls invalid (a query of 2,001
    characters whose first is a space)."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length), AfterValidator(_stripped_not_empty)]


ShortText = StrippedText(SHORT_TEXT_MAX)
QueryText = StrippedText(2_000)
# Paging reaches this many of a search's best matches (webapp.service): the store is asked for
# them all on every paged request, so that the answer can count them (`total`), order them by
# date and filter them by sentiment. Elasticsearch's own kNN bound (k <= 10,000) is far above it.
PAGE_WINDOW = 500
SearchOrder = Literal["relevance", "newest"]
# The earlier API's `date`: GDELT's timestamp form, YYYYMMDDhhmmss in UTC (20250924000000).
GDELT_DATE_FORMAT = "%Y%m%d%H%M%S"


def _split_list(value: object) -> object:
    """CSV cells carry lists as 'a; b; c'; JSON carries real lists. Accept both."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


_DATETIME = TypeAdapter(dt.datetime)
# The start of an ISO 8601 date-time: pydantic's lax mode alone would also read a numeric string
# ("0", "1700000000") as a Unix timestamp, which the OpenAPI document's date-time does not allow.
_ISO_DATETIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_or_datetime(value: object) -> dt.date | dt.datetime:
    """A bare YYYY-MM-DD stays a date (a filter bound that covers the whole day); anything
    else must be an ISO 8601 datetime."""
    if not isinstance(value, (str, dt.date)):
        raise ValueError("must be a date (YYYY-MM-DD) or ISO 8601 datetime string")
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date (YYYY-MM-DD)") from None
    try:
        if isinstance(value, str) and not _ISO_DATETIME_START.match(value.strip()):
            raise ValueError
        parsed = _DATETIME.validate_python(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date (YYYY-MM-DD) or ISO 8601 datetime") from None
    return _as_utc(parsed)


DateBound = Annotated[
    dt.date | dt.datetime,
    PlainValidator(_date_or_datetime),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}),
]


def _as_utc(value: dt.datetime) -> dt.datetime:
    """Naive timestamps are taken as UTC; everything is stored and compared in UTC.

    A ValueError (a validation error naming the field) when the instant lies outside the years
    1-9999 once in UTC: 0001-01-01T00:00:00+05:00 is in year 0, which datetime cannot hold.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC (years 1-9999)") from None


UtcDatetime = Annotated[dt.datetime, AfterValidator(_as_utc)]


class NewsRecord(BaseModel):
    """One news item as ingested from JSONL or CSV."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    summary: Annotated[str | None, BeforeValidator(_blank_to_none)] = Field(None, max_length=5_000)
    body: Annotated[str | None, BeforeValidator(_blank_to_none)] = Field(None, max_length=100_000)
    url: Annotated[AnyHttpUrl | None, BeforeValidator(_blank_to_none)] = None
    published_dt: UtcDatetime
    source: ShortText
    doc_type: ShortText = "news"
    themes: Annotated[list[ShortText], BeforeValidator(_split_list)] = Field(
        default_factory=list, max_length=LIST_MAX_ITEMS
    )
    organizations: Annotated[list[ShortText], BeforeValidator(_split_list)] = Field(
        default_factory=list, max_length=LIST_MAX_ITEMS
    )
    quality_score: Annotated[float | None, BeforeValidator(_blank_to_none)] = Field(None, ge=0.0, le=1.0)

    def embedding_text(self) -> str:
        """The text every embedding and sentiment model reads: the title, then the summary
        (or, when there is none, the start of the body). Models truncate at their own limit."""
        rest = self.summary or (self.body or "")[:2_000]
        return f"{self.title}\n{rest}".strip()


# Response fields kept for the earlier API's clients (docs/moving-from-the-earlier-api.md).
COMPATIBILITY = "Compatibility field for clients of the earlier API: "


class SentimentOut(BaseModel):
    label: SentimentLabel
    scores: dict[SentimentLabel, float]

    @computed_field(description=COMPATIBILITY + "the probability of `label`, i.e. `scores[label]`.")
    @property
    def score(self) -> float:
        return self.scores[self.label]


class SearchRequest(BaseModel):
    """Body of ``POST /search/cosine/<field>/``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: QueryText
    # Numbers must be JSON numbers, as the schema says: pydantic's lax mode would take `true` as
    # 1 and "5" as 5, and answer 200 to a body its own OpenAPI document calls invalid.
    size: Annotated[int, Strict()] = Field(
        10,
        ge=1,
        le=100,
        validation_alias=AliasChoices("size", "limit"),
        description="Number of results (1-100). `limit` is accepted as an alias, as the earlier API did.",
    )
    min_score: Annotated[float, Strict()] | None = Field(
        None, ge=0.0, le=1.0, description="Lowest score returned, on the (1 + cosine) / 2 scale."
    )
    date_from: DateBound | None = Field(None, description="Earliest published_dt (inclusive).")
    date_to: DateBound | None = Field(
        None, description="Latest published_dt (inclusive; a bare date covers that whole day)."
    )
    doc_types: list[ShortText] | None = Field(None, max_length=20)
    sources: list[ShortText] | None = Field(None, max_length=20)
    # Paging, ordering and the sentiment filter (docs/api.md, "Paging"). A request that sends
    # none of them is answered exactly as before they existed, in the earlier answer's shape.
    offset: Annotated[int, Strict()] = Field(
        0,
        ge=0,
        lt=PAGE_WINDOW,
        description=f"How many matches to skip: the first result is match number offset + 1. offset + size "
        f"is at most {PAGE_WINDOW} (paging reaches the {PAGE_WINDOW} best matches). Sending it (0 for the "
        "first page) adds `total` and `offset` to the answer.",
    )
    order: SearchOrder = Field(
        "relevance",
        description=f"relevance: best match first. newest: the same matches (the {PAGE_WINDOW} best, "
        "filtered), most recently published first. Sending it adds `total` and `offset` to the answer.",
    )
    sentiments: list[SentimentLabel] | None = Field(
        None,
        min_length=1,
        max_length=len(SENTIMENT_LABELS),
        description=f"Keep only documents whose sentiment label is one of these, among the {PAGE_WINDOW} best "
        "matches. Sending it adds `total` and `offset` to the answer.",
    )

    @model_validator(mode="before")
    @classmethod
    def _size_or_limit(cls, data: object) -> object:
        if isinstance(data, dict) and "size" in data and "limit" in data:
            raise ValueError("give either size or limit, not both")
        return data

    @model_validator(mode="after")
    def _date_order(self) -> SearchRequest:
        start, end = self.published_range()
        if start and end and start > end:
            raise ValueError("date_from is after date_to")
        if self.offset + self.size > PAGE_WINDOW:
            raise ValueError(
                f"offset + size is {self.offset + self.size}; paging reaches the {PAGE_WINDOW} best matches, "
                "so offset + size may be at most that"
            )
        return self

    @property
    def paged(self) -> bool:
        """Whether the request uses paging, ordering or the sentiment filter: its answer then
        counts the matches (SearchResponse.total). Without them it is the earlier API's search."""
        return bool(self.model_fields_set & {"offset", "order", "sentiments"})

    def published_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The date filter as an inclusive UTC datetime range."""

        def bound(value: dt.datetime | dt.date | None, end_of_day: bool) -> dt.datetime | None:
            if value is None:
                return None
            if isinstance(value, dt.datetime):
                return _as_utc(value)
            time = dt.time.max if end_of_day else dt.time.min
            return dt.datetime.combine(value, time, tzinfo=dt.UTC)

        return bound(self.date_from, False), bound(self.date_to, True)


class SearchHit(BaseModel):
    id: str
    score: float = Field(description="(1 + cosine) / 2, Elasticsearch's cosine convention, in [0, 1].")
    title: str
    summary: str | None
    url: str | None
    published_dt: dt.datetime
    source: str
    doc_type: str
    sentiment: SentimentOut
    themes: list[str]
    organizations: list[str]
    full_text: str | None = Field(
        max_length=FULL_TEXT_MAX,
        description=COMPATIBILITY + f"the document's body, its first {FULL_TEXT_MAX:,} characters "
        "(its clients read it in preference to `summary`).",
    )
    # Left out unless true, so that every answer whose bodies fit is exactly what it was before.
    full_text_truncated: bool = Field(
        False,
        exclude_if=lambda truncated: not truncated,
        description=f"Present, and true, only when the body was longer than {FULL_TEXT_MAX:,} characters "
        "and `full_text` is its start.",
    )

    @computed_field(
        description=COMPATIBILITY + "`published_dt` as YYYYMMDDhhmmss in UTC (GDELT's form).",
        json_schema_extra={"pattern": "^[0-9]{14}$"},
    )
    @property
    def date(self) -> str:
        return _as_utc(self.published_dt).strftime(GDELT_DATE_FORMAT)


class Timings(BaseModel):
    embedding_ms: float
    search_ms: float


class Total(BaseModel):
    """How many matches a paged search has, as Elasticsearch's ``hits.total`` says it."""

    value: int = Field(
        description=f"Matches that paging can reach: documents that pass every filter and min_score, among the "
        f"{PAGE_WINDOW} nearest to the query that pass the store's filters. Approximate search (Elasticsearch, "
        "or an embedded index with an inverted file) counts those it found."
    )
    relation: Literal["eq", "gte"] = Field(
        description=f"eq: `value` is every match. gte: the {PAGE_WINDOW}-match window was full, more documents "
        "may match beyond it."
    )


class SearchResponse(BaseModel):
    results: list[SearchHit]
    total_hits: int = Field(
        description="Documents the k-nearest-neighbour search matched (at most `size`), as Elasticsearch counts a knn search."
    )
    # Present only in answers to paged requests (SearchRequest.paged): the earlier answers keep their shape.
    total: Total | None = Field(
        None,
        exclude_if=lambda total: total is None,
        description="Present only when the request sent offset, order or sentiments: how many matches there are "
        "to page through.",
    )
    offset: int | None = Field(
        None,
        exclude_if=lambda offset: offset is None,
        description="Present only when the request sent offset, order or sentiments: the request's offset.",
    )
    query: str
    embedding_field: EmbeddingField
    search_time_ms: float
    timings: Timings


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    error: str = Field(description="Machine-readable error code.")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)
    request_id: str = Field(
        description="This request's id, also in the X-Request-ID response header: the service logs "
        "what failed under it."
    )


class StoreStatus(BaseModel):
    backend: str
    status: str = Field(description="ok or unavailable; Elasticsearch reports its cluster health colour.")
    documents: int | None
    detail: str | None = Field(
        None, description="Why the store is unavailable (only for a signed-in person or a valid API token)."
    )


class EncoderStatus(BaseModel):
    model: str
    purpose: Literal["query", "ingest"]
    used: str = Field(description="The backend and precision that encodes, e.g. onnx/float32.")
    guard: list[str] = Field(
        description="The fidelity guard's verdict on each candidate tried, in order: its probe figures, "
        "and why a rejected one was refused."
    )


class ModelCacheStatus(BaseModel):
    path: str | None = Field(
        None, description="The model cache's folder (only for a signed-in person or a valid API token)."
    )
    cached_models: list[str]
    loaded_models: list[str]
    sentiment_model: str | None = Field(
        description="The sentiment model: its identity (name and weights hash) for a signed-in person or a valid API token, else its name."
    )
    query_cache: dict[str, int] | None = Field(
        None, description="The query-embedding cache's counters (only for a signed-in person or a valid API token)."
    )
    encoders: list[EncoderStatus] = Field(
        description="Which backend and precision each model runs with, chosen by the fidelity guard on this CPU."
    )
    error: str | None = Field(
        None, description="Why the models failed to load (only for a signed-in person or a valid API token)."
    )


class HealthReport(BaseModel):
    """``GET /health``. The first fields are those the earlier version of this API answered, so
    that its tools keep working: ``status`` ("healthy" when searches can be answered), ``api``,
    ``elasticsearch`` (the store's health for either backend), ``model_cache`` and ``timestamp``."""

    status: Literal["healthy", "starting", "unavailable"] = Field(
        description="healthy: models loaded and store available (HTTP 200); starting: models loading; "
        "unavailable: a model or the store failed (both HTTP 503)."
    )
    api: Literal["operational"] = Field(description="The API process answers (as the earlier API reported it).")
    elasticsearch: str = Field(
        description="The store's health, for either backend (as the earlier API named it): "
        "`ok` or `unavailable` for the embedded store; the index's cluster health colour "
        "(green, yellow, red) or `unavailable` for Elasticsearch. Equals store.status."
    )
    version: str
    store: StoreStatus
    model_cache: ModelCacheStatus
    timestamp: dt.datetime = Field(description="When this report was made (UTC).")

    def public(self) -> HealthReport:
        """What a caller neither signed in nor with a valid API token sees: states, model names and document
        counts, but no filesystem path, no error text (an Elasticsearch error names the
        service's user and roles), no model hash and no query-cache counters (whose hits
        would tell whether a text was searched)."""
        sentiment = self.model_cache.sentiment_model
        return self.model_copy(
            update={
                "store": self.store.model_copy(update={"detail": None}),
                "model_cache": self.model_cache.model_copy(
                    update={
                        "path": None,
                        "error": None,
                        "query_cache": None,
                        "sentiment_model": sentiment.split("@", 1)[0] if sentiment else None,
                    }
                ),
            }
        )
