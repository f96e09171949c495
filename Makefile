# Every target sets itself up from a fresh clone with only Python (3.11, 3.12 or 3.13) and pip.
# The venv's Python: $(PYTHON) if given, else the first of PYTHON_CANDIDATES in that range. Each
# candidate is run, not just looked up: pyenv puts shims on PATH for versions it has not selected.
# 3.11 first: the machines this project runs on keep torch's wheels for it on local disk.
PYTHON_CANDIDATES := python3.11 python3 python3.12 python3.13
PYTHON_IN_RANGE := import sys; v = tuple(sys.version_info[:2]); print("%d.%d" % v); sys.exit(not (3, 11) <= v < (3, 14))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: demo demo-classification report test test-slow lint install clean-results

$(BIN)/python:
	@py=; tried=; for p in $(or $(PYTHON),$(PYTHON_CANDIDATES)); do \
	  v=$$($$p -c '$(PYTHON_IN_RANGE)' 2>/dev/null) && { py=$$p; break; }; \
	  tried="$$tried $$p ($${v:-not runnable})"; \
	done; \
	[ -n "$$py" ] || { echo "error: need Python 3.11, 3.12 or 3.13; found:$$tried; set PYTHON=/path/to/python3.12" >&2; exit 1; }; \
	echo "$$py -m venv $(VENV)  # Python $$v"; $$py -m venv $(VENV)
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

# The demo's figures and table in one HTML file: the demo first (if needed), then the figures of
# every run that has its final result (the rule `plots`), then Snakemake's report of them.
report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) results/digits_1_20/final_miou.json
	$(BIN)/snakemake --cores $(CORES) plots
	$(BIN)/snakemake --report results/report.html plots
	@echo "open results/report.html in a browser"

# TEST_MARKERS="slow or not slow" also runs the end-to-end demo test (minutes).
TEST_MARKERS ?= not slow
# Test files run on TEST_WORKERS processes (pytest-xdist; a file stays on one, so its module
# fixtures are made once); TEST_WORKERS=0 runs them in this one.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -m "$(TEST_MARKERS)" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# ruff (pyproject [tool.ruff]), Snakemake's own linter, and snakefmt's formatting of the rules.
lint: $(STAMP)
	$(BIN)/ruff check dmt tests benchmarks
	$(BIN)/snakemake --lint --snakefile Snakefile
	$(BIN)/snakefmt --check Snakefile workflow

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

clean-results:
	rm -rf results resources logs .snakemake
