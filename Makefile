# Two commands do everything on a fresh machine (Python >= 3.11 and Go >= 1.26 present):
#   make run    set up, build the pinned Kubernetes binaries, start the embedded cluster, open the course
#               in JupyterLab (Ctrl-C stops JupyterLab; `make down` stops the cluster)
#   make test   set up, then run the whole test suite against a cluster the tests start themselves
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup up run notebooks release test bench down clean hub

# JupyterHub's proxy (Node.js >= 20 and npm), pinned by cluster/hub/package-lock.json, installed under the venv
HUB_PROXY := $(VENV)/hub/node_modules/.bin/configurable-http-proxy

$(BIN)/kubelab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(HUB_PROXY): cluster/hub/package.json cluster/hub/package-lock.json | $(BIN)/kubelab
	mkdir -p $(VENV)/hub
	cp cluster/hub/package.json cluster/hub/package-lock.json $(VENV)/hub/
	npm ci --prefix $(VENV)/hub --no-audit --no-fund --loglevel=error
	touch $@

setup: $(BIN)/kubelab $(HUB_PROXY)  ## Python environment + every pinned tool binary (cached; a no-op when built)
	$(BIN)/kubelab build

# Headless Chromium for tests/course/test_browser.py: Playwright (the test extra) drives Debian's browser and never
# downloads one. As root (CI) it is installed when missing; otherwise one line says what to install.
CHROMIUM := /usr/bin/chromium
.PHONY: browser
setup: browser
browser:  ## Debian's chromium + chromium-driver, when $(CHROMIUM) is missing
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "make browser: $(CHROMIUM) is missing (tests/course/test_browser.py needs it): run as root, or: sudo apt-get install chromium chromium-driver"; fi

up: setup  ## start the embedded cluster and show its node pools
	$(BIN)/kubelab cluster up
	eval "$$($(BIN)/kubelab cluster env)" && kubectl get nodes \
	  -L kubelab.io/pool,nvidia.com/gpu.product,nvidia.com/gpu.count,nvidia.com/gpu.sharing-strategy

# The learner's JupyterLab: cluster/learner-lab/ first on JUPYTER_CONFIG_PATH (for this command only) opens the course
# on notebooks/00-start-here.ipynb with a learner's tools: no formgrader, Create Assignment, course list or news pop-up.
# The instructor's own `jupyter lab` and the hub (kubelab.course.classroom.hub) do not read it.
LEARNER_LAB := $(CURDIR)/cluster/learner-lab
run: up  ## ... and open the course on notebooks/00-start-here.ipynb (kubectl/helm on PATH in JupyterLab terminals)
	eval "$$($(BIN)/kubelab cluster env)" && JUPYTER_CONFIG_PATH=$(LEARNER_LAB)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: up  ## execute every notebook headless; executed copies in out/executed
	$(BIN)/kubelab run notebooks/ --output out/executed

release: $(BIN)/kubelab  ## regenerate the student versions (release/) from source/; commit the result
	$(BIN)/kubelab course generate

# Workers of `make test`, each with its own session cluster; a test file stays on one worker (its module fixtures
# are made once). The cluster tiers spend most of their time waiting on the cluster, so 3 workers fit 2 cores.
TEST_WORKERS ?= 3

test: setup  ## the layers (import-linter), then every tier: unit, cluster, notebooks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

hub: up  ## a JupyterHub for a class on this machine (docs/instructor.md: "A class on one machine"); needs KUBELAB_HUB_PASSWORD
	$(BIN)/jupyterhub -f jupyterhub_config.py

bench: setup
	$(BIN)/python bench/cluster_bench.py

down:
	$(BIN)/kubelab cluster down

clean: down
	rm -rf $(VENV)
