# Two commands on a fresh machine with only python3: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
QUALCODE := $(VENV)/bin/qualcode

.PHONY: install run test bench accuracy validate cli-docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(QUALCODE) run --transcripts transcripts --codebook codebook.yaml --out reports

validate: install
	$(QUALCODE) validate --transcripts transcripts --codebook codebook.yaml

test: install
	$(VENV)/bin/ruff check pipeline tests bench
	$(VENV)/bin/ruff format --check pipeline tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

bench: install
	$(PY) bench/throughput.py

accuracy: install
	$(PY) bench/accuracy.py

# docs/cli.md is every command's --help; tests/test_cli_reference.py fails when it is stale.
cli-docs: install
	$(PY) -m pipeline.cli.reference > docs/cli.md.tmp && mv docs/cli.md.tmp docs/cli.md

clean:
	rm -rf $(VENV) reports/*.csv reports/*.html reports/*.md reports/*.json
