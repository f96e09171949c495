# Every target sets itself up from a fresh clone with only Python 3.11 and pip.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: demo demo-classification test test-slow install clean-results

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) results/digits_1_20/final_miou.json
	@cat results/digits_1_20/final_miou.json

demo-classification: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) results/digits_cls_100/final_acc.json
	@cat results/digits_cls_100/final_acc.json

# TEST_MARKERS="slow or not slow" also runs the end-to-end demo test (minutes).
TEST_MARKERS ?= not slow
test: $(STAMP)
	$(BIN)/python -m pytest -m "$(TEST_MARKERS)"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean-results:
	rm -rf results resources logs .snakemake
