# Run `make` to list the targets. `make run` and `make test` install what is missing first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
TRANSLATIONS := mapapp/translations
POT := $(TRANSLATIONS)/messages.pot
CATALOGS := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
# N_ and Nn_ mark constants (mapapp/i18n.py); lazy_gettext, form labels.
EXTRACT_KEYWORDS := -k N_ -k Nn_:1,2 -k lazy_gettext
HOST ?= 127.0.0.1
PORT ?= 5000

.DEFAULT_GOAL := help
.PHONY: help install run serve test test-fast lint format typecheck bench sample-data clean \
	translations translations-extract translations-compile

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po $(PY_STAMP)
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS) -l $* -i $<

install: $(PY_STAMP) $(NODE_STAMP) $(COMPILED) ## Install Python packages in .venv and front-end assets in node_modules

run: install ## Serve the app with the sample data on http://127.0.0.1:5000 (HOST, PORT to change)
	$(BIN)/mapapp run --host $(HOST) --port $(PORT)

serve: install ## Serve the app with gunicorn and several workers on port 8000
	$(BIN)/mapapp serve --dev

test: install ## Run every test, browser tests included, one worker per core
	$(BIN)/pytest

test-fast: install ## Run the tests that need neither a browser nor many processes
	$(BIN)/pytest -m "not browser and not slow"

lint: install ## Check the code with ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Run the benchmarks and print their tables
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

translations-extract: $(PY_STAMP) ## Collect the interface's strings into mapapp/translations/messages.pot
	mkdir -p $(TRANSLATIONS)
	$(BIN)/pybabel -q extract -F babel.cfg $(EXTRACT_KEYWORDS) --add-comments=Translators: \
		--sort-by-file --project=mapapp --copyright-holder="Rare Disease Day map" \
		--msgid-bugs-address=dev@mapapp.invalid -o $(POT) .

translations: translations-extract ## Extract the strings and merge them into every language's catalog
	$(BIN)/pybabel -q update --no-fuzzy-matching --ignore-obsolete -i $(POT) -d $(TRANSLATIONS)

translations-compile: $(COMPILED) ## Compile the catalogs (.po) into what the app reads (.mo)

sample-data: install ## Regenerate data/events.csv, the sample edition (fixed seed)
	$(BIN)/python scripts/make_sample_data.py

clean: ## Remove the virtual environment, node_modules and caches
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
