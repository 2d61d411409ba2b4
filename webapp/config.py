"""Configuration defaults. Every value can be overridden from the environment with the
``FINNEWS_`` prefix (``FINNEWS_STORE_PATH=/data/index``); values are parsed as JSON when they
can be, so ``FINNEWS_QUERY_CACHE_SIZE=0`` is a number. Paths left unset live in Flask's
instance folder.
"""

# The embedded store keeps its index here (default: <instance>/index).
STORE_PATH = None
STORE_BACKEND = "embedded"
# An IVF index is built for each field once an embedded index holds this many documents.
STORE_ANN_MIN_DOCUMENTS = 200_000
# Verified model cache (default: <instance>/models); filled by `flask models fetch`.
MODEL_CACHE_DIR = None
# Query embeddings kept per process (LRU); 0 disables the cache.
QUERY_CACHE_SIZE = 4096
# Reported by /health; the release sets it to the release version.
APP_VERSION = "dev"
# Requests larger than this are refused with 413 before they are parsed.
MAX_CONTENT_LENGTH = 64 * 1024
# Bearer tokens the search endpoints and /metrics accept, separated by commas or whitespace
# (in ECS: a task-definition secret from Secrets Manager). Unset: no token is asked for. Health,
# the OpenAPI document and the search page stay open (the page asks its user for a token).
# Read verbatim, never logged.
API_TOKENS = None

# -- Elasticsearch: STORE_BACKEND = "elasticsearch" (webapp/store/elasticsearch.py) --------------
# The cluster's URL, or a JSON list of node URLs ('["https://es1:9200", "https://es2:9200"]').
# Required for this backend; no host is built in. Credentials never go into the URL.
ES_HOSTS = None
# The alias (or index) the service searches and the ingest writes; `flask es create-index` makes
# it point at an index "<ES_INDEX>-000001" created from the index template "<ES_INDEX>".
ES_INDEX = "finnews"
# Credentials, from the environment only (in ECS: task-definition secrets from Secrets Manager):
# an encoded API key, or a username and password. Read verbatim (never parsed as JSON), never
# logged, never part of an error message.
ES_API_KEY = None
ES_USERNAME = None
ES_PASSWORD = None
# TLS: certificates are verified unless this is set to false; ES_CA_CERTS is a CA bundle (PEM)
# for a cluster whose certificate a private CA signed.
ES_VERIFY_CERTS = True
ES_CA_CERTS = None
# Seconds a search, health or mapping request may take before Elasticsearch counts as unavailable.
ES_REQUEST_TIMEOUT = 10
# kNN candidates per shard: this many times k, at most 10,000 (Elasticsearch's limit). More
# candidates: better recall from the HNSW graph, slower searches.
ES_NUM_CANDIDATES_FACTOR = 10
