"""Strimzi's own CustomResourceDefinitions, from the `io.strimzi:api` test jar on Maven Central.

Strimzi publishes its generated CRDs (`crds/v1/04X-Crd-<kind>.yaml`) inside that jar; the tests install
them on the real API server, so every object the operator writes is checked against Strimzi's schema, not
against our idea of it. Resolved once with Maven into the cache, like the Kafka jars.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import yaml

from franz.devstack.cache import cache_dir, exclusive, run_step
from franz.devstack.kafka import MAVEN_DEPENDENCY_PLUGIN

STRIMZI_VERSION = "0.51.0"
CRD_FILES = {"KafkaUser": "crds/v1/044-Crd-kafkauser.yaml"}


def strimzi_jar() -> Path:
    """The jar holding Strimzi's CRDs, downloaded from Maven Central on first use and cached after that."""
    home = cache_dir() / f"strimzi-{STRIMZI_VERSION}"
    jar = home / f"api-{STRIMZI_VERSION}-tests.jar"
    if jar.exists():
        return jar
    with exclusive(f"strimzi-{STRIMZI_VERSION}"):
        if not jar.exists():
            home.mkdir(parents=True, exist_ok=True)
            run_step(
                f"Downloading Strimzi {STRIMZI_VERSION}'s CRDs from Maven Central",
                [
                    "mvn",
                    "-B",
                    "-ntp",
                    f"-Dmaven.repo.local={cache_dir() / 'm2'}",
                    f"{MAVEN_DEPENDENCY_PLUGIN}:copy",
                    f"-Dartifact=io.strimzi:api:{STRIMZI_VERSION}:jar:tests",
                    f"-DoutputDirectory={home}",
                    "-Dtransitive=false",
                ],
                log_path=home / "download.log",
            )
    return jar


def strimzi_crd(kind: str) -> dict[str, Any]:
    """Strimzi's CRD for `kind` (KafkaUser), as Strimzi `STRIMZI_VERSION` installs it."""
    with zipfile.ZipFile(strimzi_jar()) as archive:
        definition: dict[str, Any] = yaml.safe_load(archive.read(CRD_FILES[kind]))
    return definition
