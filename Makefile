# Two commands on a fresh machine:   make book   |   make test
# Both create .venv when missing and install the project with everything it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.dwarflib-installed

.PHONY: book test lint clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## book: execute every notebook on the embedded default (simulated sky) and write _build/html/
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

## test: run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check dwarflib tests benchmarks

clean:
	rm -rf _build .cache outputs .pytest_cache
