# Two commands do everything on a fresh machine (Python >= 3.11 and Go >= 1.26 present):
#   make run    set up, build the pinned Kubernetes binaries, start the embedded cluster, open the course
#               in JupyterLab (Ctrl-C stops JupyterLab; `make down` stops the cluster)
#   make test   set up, then run the whole test suite against a cluster the tests start themselves
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup up run notebooks release test bench down clean

$(BIN)/kubelab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(BIN)/kubelab  ## Python environment + every pinned tool binary (cached; a no-op when built)
	$(BIN)/kubelab build

up: setup  ## start the embedded cluster and show its node pools
	$(BIN)/kubelab cluster up
	eval "$$($(BIN)/kubelab cluster env)" && kubectl get nodes \
	  -L kubelab.io/pool,nvidia.com/gpu.product,nvidia.com/gpu.count,nvidia.com/gpu.sharing-strategy

run: up  ## ... and open the course (kubectl/helm on PATH in JupyterLab terminals)
	eval "$$($(BIN)/kubelab cluster env)" && $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: up  ## execute every notebook headless; executed copies in out/executed
	$(BIN)/kubelab run notebooks/ --output out/executed

release: $(BIN)/kubelab  ## regenerate the student versions (release/) from source/; commit the result
	$(BIN)/kubelab course generate

test: setup  ## the layers (import-linter), then every tier: unit, cluster, notebooks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/cluster_bench.py

down:
	$(BIN)/kubelab cluster down

clean: down
	rm -rf $(VENV)
