# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: install data run test bench bench-pdf bench-reference check clean-data

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) vendor/plotly-basic.min.js

# plotly.js's basic bundle for the charts (api/plotly_bundle.py); without npm the full bundle is used.
vendor/plotly-basic.min.js: scripts/fetch_plotly_basic.sh
	bash scripts/fetch_plotly_basic.sh

data: install
	$(PY) -m etl init
	$(PY) -m etl demo --if-absent

run: data
	$(PY) -m etl users demo
	JINJIAN_SIMULATOR=$${JINJIAN_SIMULATOR:-1} $(PY) app.py

test: install
	bash scripts/install_debian_deps.sh
	$(VENV)/bin/lint-imports --no-cache  # the layers of docs/architecture.md: no upward import, no cycle
	JINJIAN_REQUIRE_SERVER=1 $(PY) -m pytest -q

bench: install
	$(PY) bench/demo_generation.py

bench-reference: install
	$(PY) bench/reference.py

# What a jurisdiction still lacks before its own data can flow (docs/onboarding.md).
check: install
	$(PY) -m etl init
	$(PY) -m etl check

bench-pdf: data
	bash scripts/install_debian_deps.sh
	$(PY) bench/pdf.py

clean-data:
	rm -rf data
