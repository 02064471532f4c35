# regionseries BIDS-App image.
#
#   docker build --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#                --build-arg VCS_REF="$(git rev-parse HEAD)" -t regionseries:dev .
#
# Runs as any user (docker run -u "$(id -u):$(id -g)", Apptainer), on a read-only
# root file system, without network: every default atlas is in /templateflow.
# See docs/containers.md.

# Python 3.12.14 on Debian trixie (python:3.12-slim), pinned by its multi-platform
# index digest; bump tag and digest together.
FROM python:3.12.14-slim-trixie@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Atlases are fetched in their own stage, so this large layer is rebuilt only when
# the fetch script changes. The script needs only the standard library and the
# skeleton bundled with the templateflow client.
FROM base AS atlases
RUN python -m pip install --no-cache-dir "templateflow==25.1.2"
COPY src/regionseries/atlases/fetch.py /opt/regionseries-fetch-atlases.py
RUN python /opt/regionseries-fetch-atlases.py --home /templateflow \
    && chmod -R a+rX /templateflow

FROM base

ARG VERSION=0.1.0.dev0
ARG BUILD_DATE=unknown
ARG VCS_REF=unknown

LABEL org.opencontainers.image.title="regionseries" \
      org.opencontainers.image.description="BIDS-App: region time series and connectivity from fMRIPrep derivatives" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12.14-slim-trixie"

# TEMPLATEFLOW_HOME lies outside any home folder, so it is the same path under
# Docker and Apptainer (which binds the host's HOME). Caches that a library may
# write go to /tmp, writable in both; PYTHONNOUSERSITE keeps a host's ~/.local
# packages out under Apptainer. One BLAS/OpenMP thread per process: the app
# parallelises over runs itself.
ENV TEMPLATEFLOW_HOME=/templateflow \
    TEMPLATEFLOW_AUTOUPDATE=0 \
    MPLCONFIGDIR=/tmp/matplotlib \
    MPLBACKEND=Agg \
    XDG_CACHE_HOME=/tmp/.cache \
    PYTHONNOUSERSITE=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NUMEXPR_MAX_THREADS=1

COPY --from=atlases /templateflow /templateflow

COPY pyproject.toml README.md /opt/regionseries-src/
COPY src/ /opt/regionseries-src/src/
WORKDIR /opt/regionseries-src
RUN python -m pip install --no-cache-dir . \
    && rm -rf /opt/regionseries-src \
    && regionseries --version

WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/regionseries"]
