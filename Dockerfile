# One image for every Franz service and the operator; the Deployment picks the subcommand:
#   args: ["aufbereitung"] | ["absturz"] | ["kummerkasten"] | ["sachbearbeiter"] | ["operator"]
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install --no-index /wheels/*.whl && rm -rf /wheels
# A numeric user, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["franz"]
CMD ["--help"]
