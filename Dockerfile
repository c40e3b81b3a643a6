# One image for every Franz service and the operator; the Deployment picks the subcommand:
#   args: ["aufbereitung"] | ["absturz"] | ["kummerkasten"] | ["sachbearbeiter"] | ["operator"]
# Any base with python3.11 and its venv module works; the default is the public slim image, and the dev
# stack builds from a local Debian bookworm root file system instead (`franz image`), pulling nothing.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
WORKDIR /src
RUN python3 -m venv /opt/franz
COPY pyproject.toml README.md ./
COPY services ./services
COPY operator ./operator
# A build machine behind a TLS-intercepting proxy hands pip its CA bundle as a build secret
# (`--secret id=ca-bundle,src=…`): it is mounted for this step only and never lands in a layer.
RUN --mount=type=secret,id=ca-bundle \
    if [ -f /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi; \
    /opt/franz/bin/pip install --no-cache-dir --no-compile . \
    && /opt/franz/bin/pip uninstall --yes pip

FROM ${BASE_IMAGE}
ENV PATH=/opt/franz/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/franz /opt/franz
# A numeric user, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["franz"]
CMD ["--help"]
