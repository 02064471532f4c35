# Two commands for a fresh machine: `make demo` and `make test`.
# Both create .venv (if needed) and install the package with its test extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

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

clean:
	rm -rf $(VENV) demo_output
