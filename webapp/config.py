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
