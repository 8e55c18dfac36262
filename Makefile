# Two commands on a fresh machine:   make book   |   make test
# Both create .venv when missing and install the project with everything it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.dwarflib-installed

.PHONY: book test test-all lint clean install browser site-check

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## book: execute every notebook on the embedded default (simulated sky) and write _build/html/
## (--all: every page, also those whose source is unchanged, since their numbers come from the package)
book: $(STAMP)
	$(BIN)/jupyter-book build . --all -W -n --keep-going

## site-check: after `make book`, check the built site offline (links, anchors, images, no CDN, every chapter's
## figures) and open two chapters in headless Chromium (maths typeset, screenshot not blank)
site-check: $(STAMP) browser
	$(BIN)/python -m dwarflib.sitecheck _build/html --notebooks notebooks
	$(BIN)/python -m pytest -p no:xdist -q -rs tests/test_site.py

## browser: install Chromium from the Debian packages when it is missing and apt-get may run (root or sudo);
## elsewhere say so, and the screenshot test skips with that reason
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  echo "chromium: $$(command -v chromium || command -v chromium-browser)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "chromium is not installed and apt-get cannot run here: the headless-browser test will be skipped"; \
	fi

## test: the fast tests (everything not marked slow: the slow ones each take more than ~0.6 s on 2 cores,
## mostly subprocess runs of the command line and killed/restarted runs)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow"

## test-all: every test, slow ones included (what CI runs)
test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check dwarflib tests benchmarks

clean:
	rm -rf _build .cache outputs .pytest_cache
