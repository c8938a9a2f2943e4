# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Both create .venv, install the pinned dependencies and the system packages, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo demo-once test test-fast airflow clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml scripts/system-deps.sh scripts/build_embedding_model.py scripts/build_embedding_variants.py
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and alone: pip then takes the local CPU build, never a CUDA download.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python scripts/build_embedding_model.py
	# the int8 ONNX and the static variants (RADAR_EMBEDDING_MODEL=multilingual-e5-small-int8 / -static), from the folder above
	$(BIN)/python scripts/build_embedding_variants.py --only int8,static
	touch $(STAMP)

demo: setup
	$(BIN)/radar demo

demo-once: setup
	$(BIN)/radar demo --once

# Airflow standalone with the project's DAGs on $RADAR_HOME/airflow (default .radar/airflow); Ctrl-C stops it.
airflow: setup
	$(BIN)/radar airflow

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) .radar
