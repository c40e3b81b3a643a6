"""Deployment files checked statically (no Docker here): charts render securely; skaffold and kind agree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def render(helm: Path, chart: str, *args: str) -> list[dict[str, object]]:
    output = subprocess.run(
        [str(helm), "template", "franz", str(ROOT / "charts" / chart), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def test_aufbereitung_chart_lints_strictly(helm: Path) -> None:
    result = subprocess.run(
        [str(helm), "lint", "--strict", str(ROOT / "charts" / "aufbereitung")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_aufbereitung_deployment_is_restricted_and_wired_to_its_pipeline(helm: Path) -> None:
    [deployment] = render(helm, "aufbereitung", "--set", "pipeline=prod")
    assert deployment["kind"] == "Deployment"
    pod = deployment["spec"]["template"]["spec"]  # type: ignore[index]
    assert deployment["spec"]["template"]["metadata"]["labels"]["franz.dev/pipeline"] == "prod"  # type: ignore[index]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["args"] == ["aufbereitung"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["envFrom"] == [{"configMapRef": {"name": "franz-prod-config"}}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"]["memory"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_skaffold_builds_the_image_its_releases_deploy_from_existing_charts() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert config["apiVersion"] == "skaffold/v4beta14"
    assert config["kind"] == "Config"
    images = {artifact["image"] for artifact in config["build"]["artifacts"]}
    for artifact in config["build"]["artifacts"]:
        assert (ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()
    releases = config["deploy"]["helm"]["releases"]
    assert releases
    for release in releases:
        assert (ROOT / release["chartPath"] / "Chart.yaml").is_file()
        templates = " ".join(release["setValueTemplates"].values())
        referenced = set(re.findall(r"IMAGE_(?:REPO|TAG|DIGEST)_([\w-]+)", templates))
        assert referenced, f"release {release['name']} does not take the built image"
        assert referenced <= images


def test_kind_node_image_is_pinned_by_digest() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    for node in config["nodes"]:
        assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", node["image"])


def test_dockerfile_runs_as_a_numeric_non_root_user_with_franz_as_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1])
    assert re.search(r'^ENTRYPOINT \["franz"\]', dockerfile, flags=re.MULTILINE)
