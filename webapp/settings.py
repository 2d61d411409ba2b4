"""Every setting of the service, declared once: typed, validated once at start, documented here.

Each setting is read from the environment variable ``FINNEWS_<NAME>`` (``FINNEWS_STORE_PATH``),
by its type: numbers and booleans are parsed, strings (passwords, tokens) are taken verbatim.
The settings table of docs/settings.md is generated from this class (:func:`markdown_table`) and a test
keeps the two equal; ``flask settings`` shows what a process would run with. A value that does not fit is refused at start with a message naming
the variable and never repeating the value (it may be a secret).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

PREFIX = "FINNEWS_"
EncoderBackend = Literal["auto", "torch", "onnx", "openvino"]


# API tokens are bearer secrets: at least 32 characters (192 bits and more as random text).
MIN_TOKEN_LENGTH = 32


def split_tokens(text: str) -> tuple[str, ...]:
    """FINNEWS_API_TOKENS's tokens: separated by commas or whitespace."""
    return tuple(token for token in re.split(r"[\s,]+", text) if token)


# An application load balancer's ARN; its fourth part is the region whose key signs its identity headers.
ALB_ARN = re.compile(r"arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:loadbalancer/app/[^/\s]+/[^/\s]+")


class SettingsError(ValueError):
    """The configuration cannot run the service; the message names each variable at fault."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, case_sensitive=False, extra="forbid", frozen=True)

    # -- the service --------------------------------------------------------------------------
    app_version: str = Field("dev", description="Reported by /health; the release sets it to the release version.")
    model_cache_dir: Path | None = Field(
        None,
        description="The verified model cache, filled by `flask models fetch` (default: `<instance>/models`).",
    )
    query_cache_size: int = Field(4096, ge=0, description="Query embeddings kept per process (LRU); 0 disables it.")
    max_content_length: int = Field(
        64 * 1024, gt=0, description="Request bodies larger than this (bytes) are refused with 413 unparsed."
    )
    api_tokens: SecretStr | None = Field(
        None,
        description="Bearer tokens the search endpoints, /metrics and the full /health accept, separated by "
        f"commas or whitespace, each at least {MIN_TOKEN_LENGTH} characters (in ECS: a secret). Read verbatim, "
        "never logged. Without tokens the service does not start, unless FINNEWS_ALLOW_ANONYMOUS is set.",
    )
    allow_anonymous: bool = Field(
        False,
        description="Development only (`make serve`, the tests): without FINNEWS_API_TOKENS, serve everyone "
        "without a token. Tokens, when given, are still required.",
    )
    alb_signers: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="The ARNs of the load balancers (separated by commas or whitespace) whose signed identity "
        "header (x-amzn-oidc-data, sent by a listener rule that authenticates with OIDC) admits a person signed "
        "in there, beside the API tokens; none: the header is ignored.",
    )
    alb_public_key_url: str = Field(
        "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}",
        description="Where the public key (PEM) that verifies an identity header is fetched, once per key id "
        "and worker: `{region}` is the signing load balancer's region, `{kid}` the header's key id.",
    )
    rate_limit_per_minute: int = Field(
        0,
        ge=0,
        description="Searches one caller (a person, a token) may make a minute in each gunicorn worker, in "
        "bursts of up to as many; beyond it 429 with Retry-After. 0: no limit.",
    )
    request_timeout: float = Field(
        15.0,
        gt=0,
        description="Seconds a search or health request may take; a slower one is answered 503 "
        "(keep it above FINNEWS_ES_REQUEST_TIMEOUT, so that the store's own, clearer error comes first).",
    )
    health_max_age: float = Field(
        5.0,
        ge=0,
        description="Seconds a worker answers /health and /health/ready from the store's last health check; "
        "whatever the number of checks, a worker has at most one store health call in flight, and checks that "
        "come meanwhile wait for it (0: only they share it).",
    )
    trusted_proxies: int = Field(
        1,
        ge=0,
        description="Proxies in front of the service that append the address they were reached from to "
        "X-Forwarded-For: the client's address, which the access log records, is the entry this many from "
        "its end. 1: the ALB, the only way to the tasks (their security group admits it alone); 0: none, "
        "the service is reached directly. More than there are lets a client choose the address logged.",
    )

    # -- the encoders (webapp/encoders.py) ------------------------------------------------------
    query_backend: EncoderBackend = Field(
        "auto",
        description="What encodes queries: torch, onnx or openvino (the last two run the models' ONNX exports, "
        "`flask models export`); auto: openvino where the CPU has AMX/AVX512-BF16, onnx elsewhere.",
    )
    ingest_backend: EncoderBackend = Field(
        "auto",
        description="What encodes documents at ingest (same choices); auto: openvino. "
        "`flask ingest --device cuda` uses torch in float16 on a GPU.",
    )
    encoder_precision: Literal["auto", "float32"] = Field(
        "auto",
        description="auto: each backend's fastest precision on this CPU (bfloat16 where it has AMX/AVX512-BF16) "
        "when its vectors pass the fidelity guard at start, else float32; float32: float32 only, the same "
        "vectors on every CPU.",
    )
    query_batch_max: int = Field(
        32, ge=1, description="Concurrent queries of a worker encoded together in one forward pass, at most."
    )
    query_batch_window_ms: float = Field(
        0.0,
        ge=0,
        le=50,
        description="How long a query waits for others to join its batch when the encoder is idle; 0: not at "
        "all (queries that arrive during a forward pass still form the next batch).",
    )

    # -- the store ----------------------------------------------------------------------------
    store_backend: Literal["embedded", "elasticsearch"] = Field("embedded", description="Where the news is kept.")
    store_path: Path | None = Field(
        None, description="The embedded store's index folder (default: `<instance>/index`)."
    )
    store_ann_min_documents: int = Field(
        200_000, ge=0, description="The embedded store builds an IVF index per field from this many documents."
    )

    # -- Elasticsearch (store_backend = elasticsearch; webapp/store/elasticsearch.py) ----------
    es_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="The cluster's URL, or a JSON list of node URLs; required for Elasticsearch. "
        "Credentials never go into the URL.",
    )
    es_index: str = Field("finnews", min_length=1, description="The alias the service searches and ingest writes.")
    es_api_key: SecretStr | None = Field(None, description="An encoded API key (the preferred credential).")
    es_username: SecretStr | None = Field(
        None, description="With FINNEWS_ES_PASSWORD: basic authentication instead of an API key."
    )
    es_password: SecretStr | None = Field(None, description="With FINNEWS_ES_USERNAME.")
    es_verify_certs: bool = Field(True, description="TLS certificates are verified unless this is false.")
    es_ca_certs: Path | None = Field(None, description="A CA bundle (PEM) for a cluster signed by a private CA.")
    es_request_timeout: float = Field(
        10.0, gt=0, description="Seconds a search, health or mapping request may take before the store is unavailable."
    )
    es_num_candidates_factor: int = Field(
        10, ge=1, description="kNN num_candidates = this × k (at most 10,000): recall against speed."
    )

    # -- the earlier system's Elasticsearch (`flask es import-earlier --source-hosts ...`) ------
    earlier_es_api_key: SecretStr | None = Field(
        None,
        description="An encoded API key for the earlier system's cluster (read privilege on its index). With no "
        "earlier credential set, a --source-hosts equal to FINNEWS_ES_HOSTS uses FINNEWS_ES_*'s.",
    )
    earlier_es_username: SecretStr | None = Field(
        None, description="With FINNEWS_EARLIER_ES_PASSWORD: basic authentication to the earlier cluster."
    )
    earlier_es_password: SecretStr | None = Field(None, description="With FINNEWS_EARLIER_ES_USERNAME.")
    earlier_es_verify_certs: bool = Field(
        True, description="The earlier cluster's TLS certificate is verified unless this is false."
    )
    earlier_es_ca_certs: Path | None = Field(None, description="A CA bundle (PEM) for the earlier cluster.")

    # -- gunicorn (webapp/gunicorn_conf.py) ---------------------------------------------------
    workers: int = Field(
        default_factory=lambda: min(4, multiprocessing.cpu_count()),
        ge=1,
        description="gunicorn worker processes.",
        json_schema_extra={"shown_default": "the cores, at most 4"},
    )
    threads: int = Field(4, ge=1, description="Threads per gunicorn worker: the searches it answers at once.")
    bind: str = Field("0.0.0.0:8000", description="The address gunicorn listens on.")
    keepalive: int = Field(
        75,
        ge=1,
        description="Seconds an idle connection stays open. Above the load balancer's idle timeout (an ALB's "
        "is 60 s), so that the balancer closes idle connections, never gunicorn under it (a 502).",
    )
    max_requests: int = Field(
        10_000,
        ge=0,
        description="A worker is replaced by a fresh fork after this many requests (plus a random share of "
        "FINNEWS_MAX_REQUESTS_JITTER, so workers do not restart together); 0 never.",
    )
    max_requests_jitter: int = Field(1_000, ge=0, description="See FINNEWS_MAX_REQUESTS.")
    worker_connections: int = Field(
        32,
        ge=2,
        description="Connections one worker holds at once, answering, queued or idle; more wait in the "
        "listen backlog for whichever worker is free, so a health check never queues behind hundreds of searches.",
    )
    backlog: int = Field(
        128, ge=1, description="Connections the kernel queues for the workers; beyond it new connections are refused."
    )

    @field_validator("api_tokens")
    @classmethod
    def _tokens_strong(cls, value: SecretStr | None) -> SecretStr | None:
        # No message repeats a token, or says which one is at fault.
        if value is None:
            return None
        tokens = split_tokens(value.get_secret_value())
        if not tokens:
            raise ValueError(
                "holds no token (it is blank, or only spaces and commas): give tokens of at least "
                f"{MIN_TOKEN_LENGTH} characters, or unset it"
            )
        short = sum(len(token) < MIN_TOKEN_LENGTH for token in tokens)
        if short:
            raise ValueError(
                f"{short} of its {len(tokens)} tokens are shorter than {MIN_TOKEN_LENGTH} characters "
                "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @model_validator(mode="after")
    def _keepalive_room(self) -> Settings:
        if self.worker_connections <= self.threads:
            raise ValueError(
                "FINNEWS_WORKER_CONNECTIONS must exceed FINNEWS_THREADS, or no connection can be kept alive"
            )
        return self

    @property
    def api_token_values(self) -> tuple[str, ...]:
        return split_tokens(self.api_tokens.get_secret_value()) if self.api_tokens else ()

    def serving_refusal(self) -> str | None:
        """Why this configuration must not serve requests (None: it may): closed by default."""
        if not self.api_tokens and not self.allow_anonymous:
            return (
                "no API tokens: set FINNEWS_API_TOKENS (tokens of at least "
                f"{MIN_TOKEN_LENGTH} characters), or, for development only, FINNEWS_ALLOW_ANONYMOUS=1 "
                "to serve everyone without a token"
            )
        return None

    @field_validator("alb_signers", mode="before")
    @classmethod
    def _signers_list(cls, value: object) -> object:
        return split_tokens(value) if isinstance(value, str) else value

    @field_validator("alb_signers")
    @classmethod
    def _signers_are_load_balancer_arns(cls, signers: tuple[str, ...]) -> tuple[str, ...]:
        for position, signer in enumerate(signers, 1):
            if not ALB_ARN.fullmatch(signer):
                raise ValueError(
                    f"entry {position} of {len(signers)} is not an application load balancer's ARN such as "
                    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/finnews/50dc6c495c0c9188"
                )
        return signers

    @field_validator("alb_public_key_url")
    @classmethod
    def _key_url_template(cls, template: str) -> str:
        try:
            example = template.format(region="eu-west-1", kid="key-id")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may hold the placeholders {region} and {kid} and no others") from None
        if "{kid}" not in template or urlsplit(example).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL with {kid} in it (and {region}, where the keys are regional)")
        return template

    @field_validator("es_hosts", mode="before")
    @classmethod
    def _hosts_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError("not a JSON list of URLs") from None
            return (text,) if text else ()
        return value if value is not None else ()

    @field_validator("es_hosts")
    @classmethod
    def _hosts_are_urls(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        return check_es_hosts(hosts, "FINNEWS_ES_")

    @model_validator(mode="after")
    def _elasticsearch_complete(self) -> Settings:
        _check_credentials(
            self.earlier_es_api_key, self.earlier_es_username, self.earlier_es_password, "FINNEWS_EARLIER_ES_"
        )
        if self.store_backend != "elasticsearch":
            return self
        if not self.es_hosts:
            raise ValueError("FINNEWS_ES_HOSTS is not set: give the cluster's URL, e.g. https://es.internal:9200")
        _check_credentials(self.es_api_key, self.es_username, self.es_password, "FINNEWS_ES_")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment only: no .env file and no secrets folder that could shadow it unseen.
        return (init_settings, env_settings)

    def with_instance_paths(self, instance_path: str) -> Settings:
        """Paths left unset, placed in Flask's instance folder."""
        return self.model_copy(
            update={
                "store_path": self.store_path or Path(instance_path) / "index",
                "model_cache_dir": self.model_cache_dir or Path(instance_path) / "models",
            }
        )


def check_es_hosts(hosts: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    """Elasticsearch node URLs: http(s), and never with credentials in them (those come from
    ``<prefix>API_KEY`` or ``<prefix>USERNAME``/``PASSWORD``)."""
    for position, host in enumerate(hosts, 1):
        parts = urlsplit(host)
        if parts.username or parts.password:
            # The URL is not repeated: it holds a secret.
            raise ValueError(f"must not carry credentials: use {prefix}API_KEY, or {prefix}USERNAME and _PASSWORD")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Not repeated either: with its scheme forgotten, user:password@host reads as a scheme and a path.
            raise ValueError(f"URL {position} of {len(hosts)} is not an http(s) URL such as https://es.internal:9200")
    return hosts


def _check_credentials(
    api_key: SecretStr | None, username: SecretStr | None, password: SecretStr | None, prefix: str
) -> None:
    if api_key and (username or password):
        raise ValueError(f"give either {prefix}API_KEY or {prefix}USERNAME/{prefix}PASSWORD, not both")
    if bool(username) != bool(password):
        raise ValueError(f"{prefix}USERNAME and {prefix}PASSWORD go together")


class _GivenOnly(Settings):
    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, **sources
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _explain(exc: ValidationError) -> SettingsError:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = f"{PREFIX}{error['loc'][0]}".upper() if error["loc"] else "configuration"
        problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return SettingsError("; ".join(problems))


def load_settings(values: Mapping[str, object] | None = None) -> Settings:
    """From the environment, or (tests) from ``values`` and the defaults only, the environment
    unread. Keys are the settings' names in any case (``STORE_PATH`` or ``store_path``)."""
    try:
        if values is None:
            return Settings()
        return _GivenOnly(**{key.lower(): value for key, value in values.items()})
    except ValidationError as exc:
        raise _explain(exc) from None


def configure_process(serving: bool) -> str | None:
    """The process environment the libraries read when they load, set in this one place.

    MKL_DISABLE_FAST_MM: a gunicorn worker once spun forever inside MKL's own memory manager
    (mkl_serv_allocate -> mm_account_ptr_by_tid) during concurrent matrix products, every other
    search thread waiting behind it; with this set MKL takes its buffers from malloc. It must be
    set before torch loads MKL, so every entry point calls this first.
    When serving, also: HF_HUB_OFFLINE, so that an accidental hub lookup fails at once instead of
    retrying (the service only loads from the verified cache); and PROMETHEUS_MULTIPROC_DIR, where
    each gunicorn worker writes its metric samples for /metrics to add up (prometheus_client
    reads it when it is imported, so before the app is). Returns that directory when this call
    made it (an operator's own PROMETHEUS_MULTIPROC_DIR is kept), for the server to remove on exit.
    """
    os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")
    if not serving:
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="finnews-prometheus-")
    return os.environ["PROMETHEUS_MULTIPROC_DIR"]


def markdown_table() -> str:
    """The settings table of docs/settings.md."""
    rows = ["| variable | default | |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(field.json_schema_extra, dict) and "shown_default" in field.json_schema_extra:
            shown = field.json_schema_extra["shown_default"]
        elif default in (None, ()):
            shown = "none"
        else:
            shown = f"`{json.dumps(default) if isinstance(default, bool) else default}`"
        rows.append(f"| `{PREFIX}{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows)
