# Two commands do everything on a fresh machine (Python >= 3.11 and Go >= 1.26 present):
#   make run    set up, build the pinned Kubernetes binaries, start the embedded cluster, show its nodes
#   make test   set up, then run the whole test suite against a cluster the tests start themselves
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup run test bench down clean

$(BIN)/kubelab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(BIN)/kubelab  ## Python environment + every pinned tool binary (cached; a no-op when built)
	$(BIN)/kubelab build

run: setup  ## start the embedded cluster and show its node pools
	$(BIN)/kubelab cluster up
	eval "$$($(BIN)/kubelab cluster env)" && kubectl get nodes \
	  -L kubelab.io/pool,nvidia.com/gpu.product,nvidia.com/gpu.count,nvidia.com/gpu.sharing-strategy

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/cluster_bench.py

down:
	$(BIN)/kubelab cluster down

clean: down
	rm -rf $(VENV)
