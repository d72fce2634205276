# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch must be installed before anything that depends on torch,
# or pip pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench eval clean-index setup

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[test,milvus,postgres]"
	touch $(STAMP)

setup: $(STAMP)

## the Discord bot when DISCORD_TOKEN is set (in .env or the environment), else the console chat
run: $(STAMP)
	$(BIN)/newsqa run

## the full test suite, then the SimCord bot tests again on INDEX_BACKEND=milvus (milvus-lite, ~1 min)
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --index-backend milvus tests/test_bot_*.py

## the unit tests only (no real model, no crash tests)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not model and not slow"

## benchmarks: figures printed and written to bench/results/
bench: $(STAMP)
	$(BIN)/python bench/bench_build.py
	$(BIN)/python bench/bench_latency.py
	$(BIN)/python bench/bench_add.py
	$(BIN)/python bench/bench_runtime.py --squad $(SQUAD)

## retrieval evaluation on real news pages and on SQuAD:
## make eval NEWS=../shared/eval/news-dev SQUAD=../shared/eval/squad-dev-a.json
NEWS ?= ../shared/eval/news-dev
SQUAD ?= ../shared/eval/squad-dev-a.json
eval: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/eval_news.py $(NEWS)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/eval_squad.py $(SQUAD)

clean-index:
	rm -rf data/index
