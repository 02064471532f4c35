#!/usr/bin/env bash
# Builds the repository's Dockerfile with podman, as `make container-image` does:
#
#  1. a Debian base with python3, bootstrapped with mmdebstrap from Debian's
#     package mirror (no image registry is needed); the tarball is cached in
#     $REGIONSERIES_CONTAINER_CACHE and the image kept in podman's store;
#  2. a small TemplateFlow folder (small_templateflow.py) as the atlas source,
#     given to the build as the `templateflow-prefetched` build context;
#  3. `podman build` of the Dockerfile as it is, set by build arguments only.
#
# Prints the build time, the image size and what makes it up. Environment:
#   PYTHON                       Python with regionseries installed (default .venv/bin/python)
#   REGIONSERIES_TEST_IMAGE      tag to build (default localhost/regionseries:test)
#   REGIONSERIES_CONTAINER_CACHE cache folder (default ~/.cache/regionseries/container-test)
#   REGIONSERIES_BASE_SUITE      Debian suite of the base (default bookworm)
#   DEBIAN_MIRROR                default http://deb.debian.org/debian
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="${repo}/system_tests/container"
python=${PYTHON:-${repo}/.venv/bin/python}
image=${REGIONSERIES_TEST_IMAGE:-localhost/regionseries:test}
cache=${REGIONSERIES_CONTAINER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/regionseries/container-test}
suite=${REGIONSERIES_BASE_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export CONTAINERS_CONF=${CONTAINERS_CONF:-${here}/containers.conf}

"${here}/setup_podman.sh"
mkdir -p "${cache}"

# 1. The base: Debian minbase with python3 and its venv module, docs left out.
base_packages="python3,python3-venv,ca-certificates"
base_key=$(printf '%s %s %s' "${suite}" "${base_packages}" "$(uname -m)" | sha256sum | cut -c1-12)
base_image="localhost/regionseries-base:${suite}-${base_key}"
base_tar="${cache}/base-${suite}-${base_key}.tar"
if ! podman image exists "${base_image}"; then
    if [ ! -s "${base_tar}" ]; then
        echo "bootstrapping Debian ${suite} with ${base_packages} (mmdebstrap)" >&2
        started=$(date +%s)
        mmdebstrap --quiet --mode=root --format=tar --variant=minbase --include="${base_packages}" \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            "${suite}" "${base_tar}.part" "${mirror}"
        mv "${base_tar}.part" "${base_tar}"
        echo "base bootstrapped in $(( $(date +%s) - started )) s" >&2
    fi
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        "${base_tar}" "${base_image}" >/dev/null
fi

# 2. The atlases: a small TemplateFlow folder, rewritten when its generator changes.
templateflow="${cache}/templateflow-$(sha256sum "${here}/small_templateflow.py" | cut -c1-12)"
if [ ! -e "${templateflow}/.complete" ]; then
    rm -rf "${templateflow}"
    "${python}" "${here}/small_templateflow.py" "${templateflow}" >&2
    touch "${templateflow}/.complete"
fi
selection=$("${python}" "${here}/small_templateflow.py" --selection)

# pip inside the build must trust what this machine trusts (a site's own CA):
# the host's CA bundle, and a pip configuration naming it, are mounted read-only.
mapfile -t trust < <("${python}" "${here}/image_helpers.py" --pip-trust-options "${cache}")

# 3. The image.
version=$("${python}" -c 'import regionseries; print(regionseries.__version__)')
revision=$(git -C "${repo}" rev-parse HEAD 2>/dev/null || echo unknown)
started=$(date +%s)
podman build --quiet --layers \
    "${trust[@]}" \
    --build-arg BASE_IMAGE="${base_image}" \
    --build-arg TEMPLATEFLOW_SOURCE=prefetched \
    --build-context templateflow-prefetched="${templateflow}" \
    --build-arg ATLAS_SELECTION="${selection}" \
    --build-arg VERSION="${version}" \
    --build-arg VCS_REF="${revision}" \
    --tag "${image}" ${DOCKERFILE:+--file "${DOCKERFILE}"} "${repo}" >/dev/null
elapsed=$(( $(date +%s) - started ))

size=$(podman image inspect --format '{{.Size}}' "${image}")
echo "built ${image} from ${base_image} in ${elapsed} s; size $(( size / 1000000 )) MB, made of:"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "${image}" \
    | awk -F'\t' '$1 != "0B" { printf "  %10s  %s\n", $1, substr($2, 1, 100) }'
