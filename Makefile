# Two commands for a fresh machine: `make demo` and `make test`.
# Both create .venv (if needed) and install the package with its test extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean container-image container-test slurm-test

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

demo: $(STAMP)
	$(PY) -m regionseries.demo demo_output

# The image, built with podman from the Dockerfile as it is and run as users run
# it (docs/containers.md). Installs podman and mmdebstrap if missing (as root).
CONTAINERS_CONF ?= $(CURDIR)/system_tests/container/containers.conf
export CONTAINERS_CONF

container-image: $(STAMP)
	PYTHON=$(PY) bash system_tests/container/build_image.sh

container-test: container-image
	$(PY) -m pytest system_tests/container

# The SLURM recipe of hpc/slurm/ on a one-node SLURM of this machine (root: the
# setup script installs and starts slurm-wlm and munge, and leaves them running),
# natively and with podman and the image of container-image. Not part of `make test`.
slurm-test: $(STAMP) container-image
	system_tests/slurm/setup_slurm.sh
	$(PY) -m pytest system_tests/slurm

clean:
	rm -rf $(VENV) demo_output
