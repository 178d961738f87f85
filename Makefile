# The two commands of README.md:  `make book` builds the book, `make test` runs every test.
# Both create their own virtual environment (.venv) and install everything on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
WIDGETS := .widgets_js/widgets/.fetched
export COURSE_PROFILE ?= fast
export PYTHONHASHSEED := 0
# Each notebook kernel and test process stays on the cores it is given.
export MPLBACKEND := Agg
SHELL   := /bin/bash

.PHONY: help venv notebooks check-sync unit nbval book book-test chromium test clean

help:
	@echo "make book        build the book (executes every learner notebook in the '$(COURSE_PROFILE)' profile)"
	@echo "make test        unit tests, notebook sync check, nbval on the solutions, book build and its checks"
	@echo "make notebooks   regenerate learner notebooks from solutions/ and re-execute stale solutions"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[book,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	touch $@

venv: $(STAMP)

# The JavaScript that draws the book's static widgets, served by the book itself (no CDN): tools/fetch_widget_js.py
$(WIDGETS): tools/fetch_widget_js.py
	$(PY) tools/fetch_widget_js.py

notebooks: venv
	$(BIN)/python -m course_lib.authoring generate
	$(BIN)/python -m course_lib.authoring execute --stale-only

check-sync: venv
	$(BIN)/python -m course_lib.authoring check

unit: venv
	$(BIN)/python -m pytest -q -n 2 tests --ignore=tests/book

nbval: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env solutions/

book: venv check-sync $(WIDGETS)
	set -o pipefail; $(BIN)/jupyter-book build . -W --keep-going 2>&1 | tee _build.log
	@echo
	@echo "Notebook execution times (budget: 120 s each in the fast profile):"
	@grep -o "/chapters/.*Executed notebook in [0-9.]* seconds" _build.log | sed 's/: Executed notebook in/:/' || true
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# Debian's Chromium for the browser checks of tests/book (headless, offline, on loopback). It needs root or sudo;
# without either, or without apt-get, the checks are skipped and say so loudly.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "WARNING: Chromium is missing and cannot be installed (no root, no sudo): browser checks SKIPPED"; exit 0; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "WARNING: no apt-get to install Chromium: browser checks SKIPPED"; exit 0; }; \
	  echo "Installing Debian's chromium for the browser checks"; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium ) >/dev/null \
	    || echo "WARNING: apt-get install chromium failed: browser checks SKIPPED"; }

book-test: book chromium
	$(BIN)/python -m pytest -q tests/book

# nbval (the solved notebooks) and the book build (the learner notebooks) run side by side, one per core;
# each notebook is executed once per run. Their logs are printed whole, one after the other (-O).
test: check-sync unit
	$(MAKE) --no-print-directory -j2 -O nbval book-test

clean:
	rm -rf _build _build.log .pytest_cache .widgets_js
