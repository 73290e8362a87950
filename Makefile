# Aiguillage — two commands on a fresh machine: `make run` and `make test`.
# Everything missing (virtual environment, web assets, trained model, Chromium for the
# browser tests) is set up on the way.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
RASA := .venv/bin/rasa

export PORT ?= 5005
# The interface the server listens on: local only by default (the agent console is behind a
# login, but a local test install need not be reachable from the network). AIGUILLAGE_HOST=0.0.0.0 behind
# a reverse proxy.
export AIGUILLAGE_HOST ?= 127.0.0.1
export PREFECTURE ?= cantal
export AIGUILLAGE_DB ?= $(CURDIR)/var/aiguillage.db
# The shared dev sets, measured as well when their folder is beside the checkout (empty otherwise):
# `make eval`, `bot eval`, the retrain gate and the near-copy guard read it; the product never needs it.
export AIGUILLAGE_DEV_EVAL ?= $(wildcard $(abspath $(CURDIR)/../shared/eval))
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONDONTWRITEBYTECODE := 1

# What a trained model depends on: the training data, the domain, the pipeline and the code of
# its custom components (a tokenizer change must retrain): bot/nlu/fingerprint.py CODE, in the same
# order. Same list as bot.nlu.review.training_hash.
TRAINING_FILES := $(sort $(wildcard data/*.yml)) domain.yml config.yml bot/nlu/components.py bot/nlu/classifier_file.py bot/nlu/word_vectors.py bot/nlu/scoring.py bot/nlu/tfidf_fast.py bot/core/text.py
TRAINING_HASH := $(shell cat $(TRAINING_FILES) 2>/dev/null | sha256sum | cut -c1-12)
MODEL := models/aiguillage.tar.gz
MODEL_STAMP := models/.trained-$(TRAINING_HASH)
VENV_STAMP := .venv/.installed-$(shell cat requirements/lock.txt | sha256sum | cut -c1-12)
DEV_STAMP := .venv/.installed-dev-$(shell cat requirements/dev-lock.txt | sha256sum | cut -c1-12)
WEB_STAMP := web/node_modules/.installed-$(shell cat web/package-lock.json 2>/dev/null | sha256sum | cut -c1-12)

.PHONY: help training-hash setup run test lint train eval validate check bench bench-quick bench-stock clean chromium nginx redis postgres cluster cluster-stop reliability

training-hash:  ## print the hash that names the trained model's stamp (models/.trained-HASH)
	@echo $(TRAINING_HASH)

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV_STAMP): requirements/lock.txt
	@test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --disable-pip-version-check pip==24.2
	$(PIP) install -q --disable-pip-version-check --no-deps -r requirements/lock.txt
	$(PIP) install -q --disable-pip-version-check --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
	@rm -f $(filter-out .venv/.installed-dev-%,$(wildcard .venv/.installed-*)); touch $@

# Development tools (pytest, playwright, aiosmtpd, pypdfium2, ruff, import-linter): `make test`
# and `make lint` only, never `make run`.
$(DEV_STAMP): $(VENV_STAMP) requirements/dev-lock.txt
	$(PIP) install -q --disable-pip-version-check --no-deps -r requirements/dev-lock.txt
	@rm -f .venv/.installed-dev-*; touch $@

$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --silent
	@rm -f web/node_modules/.installed-*; touch $@

# The stamp holds the training's start and end (epoch seconds): the benchmark's smoke and quick modes
# reuse this model and report its training time (bench/pipeline_bench.py made_model).
$(MODEL_STAMP): $(VENV_STAMP) $(TRAINING_FILES)
	@mkdir -p models
	@date +%s > models/.training-started
	@# What the agents taught this model, as the training reads it (a snapshot: an export meanwhile is not
	@# in it), kept beside it as digests, never the sentences (the retrain gate does not measure it on
	@# them); the snapshot goes whatever happens (an interrupted or failed training, a failed step).
	trap 'rm -f models/.taught-from' EXIT; rm -f models/.taught-from; \
	if [ -f data/nlu_review.yml ]; then cp data/nlu_review.yml models/.taught-from; fi; \
	$(RASA) train --fixed-model-name aiguillage --out models --quiet && \
	$(PY) -m bot review taught --model $(MODEL) --review models/.taught-from
	@rm -f models/.trained-*; echo "$$(cat models/.training-started) $$(date +%s)" > $@; rm -f models/.training-started

setup: $(VENV_STAMP) $(WEB_STAMP) $(MODEL_STAMP)  ## install what is missing and train if the data changed
	@# sentences an earlier version copied beside the models: digests now (docs/privacy.md)
	@$(PY) -m bot review taught --legacy-only --model $(MODEL); rm -f models/.taught-from

train: $(MODEL_STAMP)  ## (re)train the model when data/, domain.yml, config.yml or the components' code changed

run: setup  ## start chat (and actions) on http://localhost:$(PORT)/chat/ for $(PREFECTURE)
	@$(PY) -m bot check
	@mkdir -p -m 700 var  # the store, its spools, the reports: its owner's only (bot/store/database.private_file)
	@echo ""
	@echo "  Aiguillage — préfecture: $(PREFECTURE) — store: $(AIGUILLAGE_DB)"
	@echo "  Chat page: http://localhost:$(PORT)/chat/   (ready when Rasa says 'Rasa server is up and running')"
	@echo "  Agent console: http://localhost:$(PORT)/console/   (accounts: $(PY) -m bot agents add NAME --role agent|admin)"
	@echo "  PAN booking: http://localhost:$(PORT)/rdv/   Indicators: http://localhost:$(PORT)/console/indicateurs"
	@echo "  Demo traffic (another terminal): $(PY) -m tools.demo_data --days 90   (phone calls too with IVR_LOCAL_DEV=1 make run)"
	@echo ""
	$(PY) -m bot serve --model $(MODEL) --interface $(AIGUILLAGE_HOST) --port $(PORT) --credentials credentials.yml --endpoints endpoints.yml

chromium:  ## install Debian's Chromium for the browser tests, if missing
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)

nginx:  ## install Debian's nginx for the reverse-proxy tests (tests/test_nginx.py runs deploy/nginx.conf), if missing
	@test -x /usr/sbin/nginx || (apt-get update -q && apt-get install -y -q nginx)

redis:  ## install Debian's Redis for the cluster (Rasa's lock store; tests/test_cluster.py), if missing
	@test -x /usr/bin/redis-server || (apt-get update -q && apt-get install -y -q redis-server)

postgres:  ## install Debian's PostgreSQL 15 for the cluster (Rasa's tracker store; tests/test_cluster.py), if missing
	@test -x /usr/lib/postgresql/15/bin/pg_ctl || (apt-get update -q && apt-get install -y -q postgresql-15)

# Several processes on this host (docs/operations.md "Several processes"): PostgreSQL and Redis on 127.0.0.1 with
# their data under var/cluster/, CLUSTER_PROCESSES servers on ports PORT, PORT+1, ... and nginx on
# 127.0.0.1:CLUSTER_PROXY_PORT in front. The product's own store stays the one SQLite file AIGUILLAGE_DB.
CLUSTER_PROCESSES ?= 2
CLUSTER_PROXY_PORT ?= 8080
cluster: setup postgres redis nginx  ## start PostgreSQL, Redis, CLUSTER_PROCESSES servers (default 2) and nginx on :$(CLUSTER_PROXY_PORT)
	@$(PY) -m bot check
	@mkdir -p -m 700 var  # the store, its spools, the reports: its owner's only (bot/store/database.private_file)
	$(PY) -m tools.cluster start --processes $(CLUSTER_PROCESSES) --port $(PORT) --proxy-port $(CLUSTER_PROXY_PORT)

cluster-stop:  ## stop what `make cluster` started
	$(PY) -m tools.cluster stop

lint: $(DEV_STAMP)  ## ruff (lint and format check) and the import-linter layer contracts
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

# Two pytest workers (pytest-xdist), a test module each at a time: most of a module's time is a Rasa
# server starting or a real component waiting, so two modules side by side use the 2 cores (docs/testing.md).
TEST_WORKERS ?= 2
test: setup $(DEV_STAMP) chromium nginx redis postgres lint  ## lint, then the whole test suite on TEST_WORKERS workers (starts its own Rasa servers; PYTEST_ARGS=... passed on)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The reliability battery (issue 13) at full scale: more rounds and clients than in `make test`
# (20 kill -9 rounds, 100 concurrent calls and chats, ...), then its table -> docs/reliability.md.
reliability: setup $(DEV_STAMP) chromium nginx redis postgres  ## the reliability battery at full scale -> docs/reliability.md
	RELIABILITY_SCALE=full $(PY) -m pytest -m reliability -p no:cacheprovider --reliability-report=docs/reliability.md

validate: $(VENV_STAMP)  ## rasa data validate
	$(RASA) data validate --fail-on-warnings

check: $(VENV_STAMP)  ## validate the routing tree and the five préfecture files
	$(PY) -m bot check --all

eval: setup  ## routing accuracy on every evaluation set, noisy variants, k-fold CV -> docs/eval.md
	$(PY) -m bench.eval_report

# The suite, then the scaling table (nginx, Redis, PostgreSQL: installed when missing) next to the stock
# anchor (stock Rasa 3.6 as deployed, bench/stock/): docs/benchmarks.md, and docs/scaling.md in full mode.
bench: setup postgres redis nginx  ## benchmark suite + scaling table -> docs/benchmarks.md, docs/scaling.md (ARGS=--quick, --retrain-stock, --no-stock, --out DIR)
	$(PY) -m bench $(ARGS)

bench-quick: setup postgres redis nginx  ## the benchmark suite in quick mode (about 3 minutes; stock anchor only if cached)
	$(PY) -m bench --quick $(ARGS)

bench-stock: setup  ## train the stock anchor (rasa init's pipeline on our data, ~30 min) once; cached in models/bench/
	$(PY) -m bench.stock_anchor train

clean:  ## remove the trained model and the local store
	rm -rf models var
