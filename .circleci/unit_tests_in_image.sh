#!/bin/bash
# Runs inside the image (as root, with the checkout at /src read-only): installs
# the test extras into the image's own virtual environment (/opt/regionseries, a
# throwaway container's copy), so the tests import the package exactly as the
# image installed it, then runs the whole suite. Usage: unit_tests_in_image.sh RESULTS_DIR
set -euo pipefail
results=${1:?usage: unit_tests_in_image.sh RESULTS_DIR}

# Headless Chromium renders the HTML reports in the report tests (as in .ci/run).
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

python=/opt/regionseries/bin/python
"${python}" - > /tmp/test-requirements.txt <<'PY'
import tomllib

with open("/src/pyproject.toml", "rb") as stream:
    print("\n".join(tomllib.load(stream)["project"]["optional-dependencies"]["test"]))
PY
"${python}" -m pip install --no-cache-dir --quiet -r /tmp/test-requirements.txt

cd /tmp
"${python}" -m pytest -n 2 -p no:cacheprovider --junitxml="${results}/junit.xml" /src/tests
