#!/bin/bash
# Runs inside the image (as root, with the checkout at /src read-only): installs
# the test extras into a virtual environment layered over the image's
# site-packages, so the tests import the package exactly as the image installed it,
# then runs the whole suite. Usage: unit_tests_in_image.sh RESULTS_DIR
set -euo pipefail
results=${1:?usage: unit_tests_in_image.sh RESULTS_DIR}

# Headless Chromium renders the HTML reports in the report tests (as in .ci/run).
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

python -m venv --system-site-packages /tmp/testenv
python - > /tmp/test-requirements.txt <<'PY'
import tomllib

with open("/src/pyproject.toml", "rb") as stream:
    print("\n".join(tomllib.load(stream)["project"]["optional-dependencies"]["test"]))
PY
/tmp/testenv/bin/python -m pip install --no-cache-dir --quiet -r /tmp/test-requirements.txt

cd /tmp
/tmp/testenv/bin/python -m pytest -n 2 -p no:cacheprovider --junitxml="${results}/junit.xml" /src/tests
