"""The local control plane is a real kube-apiserver: CRDs, server-side schema validation, kubectl, helm."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from franz.devstack.kube import KUBERNETES_VERSION, LocalControlPlane
from tests.helpers import api_client, install_crd

GROUP = "smoke.franz.dev"


def _widget_crd(plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural.capitalize()[:-1]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_api_server_validates_custom_resources_against_the_crd_schema(kubeconfig: Path) -> None:
    api = api_client(kubeconfig)
    plural = f"widgets{uuid.uuid4().hex[:8]}s"
    crd = _widget_crd(plural)
    install_crd(api, crd)
    objects = client.CustomObjectsApi(api)
    kind = crd["spec"]["names"]["kind"]
    good = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "good"}, "spec": {"size": 3}}
    created = cast(
        "dict[str, Any]", objects.create_namespaced_custom_object(GROUP, "v1", "default", plural, good)
    )
    assert created["spec"] == {"size": 3}

    bad = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "bad"}, "spec": {"size": 99}}
    with pytest.raises(ApiException) as refused:
        objects.create_namespaced_custom_object(GROUP, "v1", "default", plural, bad)
    assert refused.value.status == 422
    assert "spec.size" in str(refused.value.body)


def test_kubectl_lists_namespaces_with_the_generated_kubeconfig(kubectl: Path, kubeconfig: Path) -> None:
    listing = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"namespace/default", "namespace/kube-system"} <= set(listing.stdout.split())


def test_api_server_reports_its_release_version(kubectl: Path, kubeconfig: Path) -> None:
    """helm compares a chart's kubeVersion with this; an unstamped build says v0.0.0-master."""
    answer = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "version", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    server = json.loads(answer.stdout)["serverVersion"]
    assert server["gitVersion"] == KUBERNETES_VERSION
    assert (server["major"], server["minor"]) == tuple(KUBERNETES_VERSION.removeprefix("v").split(".")[:2])


def test_rbac_is_enforced_for_users_outside_system_masters(
    control_plane: LocalControlPlane, kubectl: Path
) -> None:
    whoami = subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(control_plane.kubeconfig),
            "auth",
            "can-i",
            "list",
            "pods",
            "--as",
            "nobody",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert whoami.stdout.strip() == "no"


def test_helm_renders_a_chart(helm: Path, tmp_path: Path) -> None:
    subprocess.run([str(helm), "create", "demo"], cwd=tmp_path, check=True, capture_output=True)
    rendered = subprocess.run(
        [str(helm), "template", "smoke", str(tmp_path / "demo"), "--set", "replicaCount=2"],
        capture_output=True,
        text=True,
        check=True,
    )
    documents = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "smoke-demo"
    assert deployment["spec"]["replicas"] == 2
    version = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v4.")
