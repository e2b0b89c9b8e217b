# One image for every role of gdi-node: a country node (`serve`), the network entry point
# (`serve` with GDI_NODE_PEERS), the catalogue (`catalogue serve`), the development AAI
# (`aai serve`) and one-off commands (`ingest`, `synth`, `db migrate`).
#
#   docker build -t gdi-node:local .
#   docker run --rm -p 127.0.0.1:5050:5050 -e GDI_NODE_DATABASE_URL=postgresql://… gdi-node:local serve
#
# PYTHON_IMAGE may name any Debian-based image with python3 >= 3.11 and its venv module.
# Extra CA certificates needed to reach PyPI (a TLS-intercepting proxy) go into
# docker/ca-certificates/*.crt before the build; they are used by pip only and never kept.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY docker/ca-certificates/ /tmp/extra-ca/
RUN python3 -m venv /opt/gdi-node
# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them.
COPY pyproject.toml /src/pyproject.toml
RUN set -e; \
    if ls /tmp/extra-ca/*.crt >/dev/null 2>&1; then \
        cat /etc/ssl/certs/ca-certificates.crt /tmp/extra-ca/*.crt >/tmp/ca-bundle.pem 2>/dev/null \
            || cat /tmp/extra-ca/*.crt >/tmp/ca-bundle.pem; \
        export PIP_CERT=/tmp/ca-bundle.pem SSL_CERT_FILE=/tmp/ca-bundle.pem; \
    fi; \
    python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" >/tmp/requirements.txt; \
    /opt/gdi-node/bin/pip install --quiet --upgrade pip setuptools wheel; \
    /opt/gdi-node/bin/pip install --quiet -r /tmp/requirements.txt
COPY . /src
RUN /opt/gdi-node/bin/pip install --quiet --no-deps --no-build-isolation /src

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/gdi-node \
        --shell /usr/sbin/nologin gdi
COPY --from=build /opt/gdi-node /opt/gdi-node
# GDI_HEALTHCHECK_URL: what the health check asks; set it per role (the AAI has no /health).
# `catalogue serve` reads GDI_CATALOGUE_*, so it listens and logs as the node does only with
# its own (tests/test_settings_and_schema.py).
ENV PATH=/opt/gdi-node/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GDI_NODE_HOST=0.0.0.0 \
    GDI_NODE_DATA_DIR=/var/lib/gdi-node \
    GDI_NODE_LOG_FORMAT=json \
    GDI_CATALOGUE_HOST=0.0.0.0 \
    GDI_CATALOGUE_LOG_FORMAT=json \
    GDI_HEALTHCHECK_URL=http://127.0.0.1:5050/health
USER gdi
WORKDIR /var/lib/gdi-node
EXPOSE 5050
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['GDI_HEALTHCHECK_URL'], timeout=2)"]
ENTRYPOINT ["gdi-node"]
CMD ["serve"]
