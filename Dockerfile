# regionseries BIDS-App image.
#
#   docker build --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#                --build-arg VCS_REF="$(git rev-parse HEAD)" -t regionseries:dev .
#
# Runs as any user (docker run -u "$(id -u):$(id -g)", Apptainer), on a read-only
# root file system, without network: every selected atlas is in /templateflow.
# The build is set by build arguments only (docs/containers.md, "Build"):
#
#   BASE_IMAGE           any image with python3 (>= 3.11) and its venv module;
#                        default: python:3.12-slim on Debian trixie, pinned by digest
#   TEMPLATEFLOW_SOURCE  where the atlases come from: TemplateFlow's server (default),
#                        a mirror with the same layout (its URL), or `prefetched`: a
#                        TemplateFlow folder given as the build context
#                        `templateflow-prefetched` (--build-context templateflow-prefetched=DIR)
#   ATLAS_SELECTION      arguments of regionseries-fetch-atlases choosing the atlases
#                        (default: empty = the default set, about a gigabyte)
#
# `make container-test` builds this file with podman from a locally bootstrapped
# Debian base and a small local TemplateFlow folder, without network for the atlases.

# Python 3.12.14 on Debian trixie (python:3.12-slim), pinned by its multi-platform
# index digest; bump tag and digest together.
ARG BASE_IMAGE=docker.io/library/python:3.12.14-slim-trixie@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

FROM ${BASE_IMAGE} AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The folder the atlases are copied from when TEMPLATEFLOW_SOURCE=prefetched: the
# build replaces this stage with the build context of the same name. Without that
# context it is the base image, which is then not read. (Only a RUN mount reads
# this stage, which hadolint takes for a final stage wanting labels.)
# hadolint ignore=DL3049
FROM base AS templateflow-prefetched

# Atlases are fetched in their own stage, so this large layer is rebuilt only when
# the fetch package or the selection changes. The package needs only the standard
# library and the skeleton bundled with the templateflow client (installed without
# its dependencies: nothing of it is imported); it is copied on its own under the
# name regionseries_fetch_atlases and run with `python -m`.
FROM base AS atlases
ARG TEMPLATEFLOW_SOURCE=https://templateflow.s3.amazonaws.com
ARG ATLAS_SELECTION=
RUN python3 -m venv /opt/fetch-env \
    && /opt/fetch-env/bin/python -m pip install --no-cache-dir --no-deps "templateflow==25.1.2"
COPY src/regionseries/atlases/fetch/ /opt/fetch-atlases/regionseries_fetch_atlases/
# ATLAS_SELECTION is split into arguments on purpose.
# hadolint ignore=SC2086
RUN --mount=type=bind,from=templateflow-prefetched,target=/prefetched \
    if [ "${TEMPLATEFLOW_SOURCE}" = prefetched ]; then source_option="--source-home /prefetched"; \
    else source_option="--s3-root ${TEMPLATEFLOW_SOURCE}"; fi \
    && PYTHONPATH=/opt/fetch-atlases /opt/fetch-env/bin/python -m regionseries_fetch_atlases --home /templateflow ${source_option} ${ATLAS_SELECTION} \
    && PYTHONPATH=/opt/fetch-atlases /opt/fetch-env/bin/python -m regionseries_fetch_atlases --home /templateflow --check ${ATLAS_SELECTION} \
    && chmod -R a+rX /templateflow

FROM base

# The app lives in a virtual environment, so that any base with python3 works (a
# distribution's own Python refuses pip installs into it, PEP 668); its bin/ comes
# first on PATH. TEMPLATEFLOW_HOME lies outside any home folder, so it is the same
# path under Docker and Apptainer (which binds the host's HOME). Caches that a
# library may write go to /tmp, writable in both; PYTHONNOUSERSITE keeps a host's
# ~/.local packages out under Apptainer. One BLAS/OpenMP thread per process: the
# app parallelises over runs itself.
ENV PATH=/opt/regionseries/bin:${PATH} \
    TEMPLATEFLOW_HOME=/templateflow \
    TEMPLATEFLOW_AUTOUPDATE=0 \
    MPLCONFIGDIR=/tmp/matplotlib \
    MPLBACKEND=Agg \
    XDG_CACHE_HOME=/tmp/.cache \
    PYTHONNOUSERSITE=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NUMEXPR_MAX_THREADS=1

# Layers from the least to the most often changed: the dependencies (rebuilt only
# when pyproject.toml changes), the atlases, then the code.
COPY pyproject.toml README.md /opt/regionseries-src/
WORKDIR /opt/regionseries-src
RUN python3 -m venv /opt/regionseries \
    && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
       > /tmp/requirements.txt \
    && python -m pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY --from=atlases /templateflow /templateflow

COPY src/ /opt/regionseries-src/src/
# The labels' arguments are declared before this RUN, which sees them in its
# environment: buildah (podman 4.3) otherwise reuses a cached LABEL layer when
# only an argument's value changed, and a new revision would keep the old label.
# The price is this small layer (the package alone), rebuilt for each revision.
ARG BASE_IMAGE
ARG ATLAS_SELECTION=
ARG VERSION=0.1.0.dev0
ARG BUILD_DATE=unknown
ARG VCS_REF=unknown
RUN python -m pip install --no-cache-dir . \
    && rm -rf /opt/regionseries-src \
    && regionseries --version

LABEL org.opencontainers.image.title="regionseries" \
      org.opencontainers.image.description="BIDS-App: region time series and connectivity from fMRIPrep derivatives" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.regionseries.atlas-selection="${ATLAS_SELECTION}"

WORKDIR /tmp
ENTRYPOINT ["/opt/regionseries/bin/regionseries"]
