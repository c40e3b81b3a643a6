"""The Helm charts, rendered by the real helm and installed into the real kube-apiserver.

What a cluster operator relies on: every chart lints strictly with its default and CI values; the values
and schemas agree; each Franz process runs restricted, probed, limited and labelled; the pipeline's
ConfigMap and Secret are wired by name; the operator's RBAC is exactly what it uses; monitoring objects
appear only where prometheus-operator serves them; and the umbrella chart installs and uninstalls cleanly.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts import values as chart_values

from franz.absturz.settings import Settings as AbsturzSettings
from franz.aufbereitung.settings import Settings as AufbereitungSettings
from franz.contracts import LifecycleTopics
from franz.kummerkasten.settings import Settings as KummerkastenSettings
from franz.sachbearbeiter.settings import Settings as SachbearbeiterSettings
from franz_operator import builders, constants, crd, rbac
from franz_operator.pipeline import dead_letter_role, from_body

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
APPLICATION_CHARTS = ("aufbereitung", "absturz", "kummerkasten", "sachbearbeiter", "franz-operator", "franz")
SERVICES = {"aufbereitung": 9101, "absturz": 9102, "kummerkasten": 9103, "sachbearbeiter": 9104}
DASHBOARDS = ("franz-overview", "franz-services", "franz-tickets")
OPERATOR_PORT = 9100
MONITORING = ("--api-versions", "monitoring.coreos.com/v1")
# Keys helm itself adds to a subchart's values; they are in the schema but not in values.yaml.
HELM_KEYS = {"global", "franz-lib", "enabled"}

Manifest = dict[str, Any]


def helm_run(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(helm), *args], capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def render(helm: Path, chart: str, *args: str) -> list[Manifest]:
    output = helm_run(helm, "template", "franz", str(CHARTS / chart), "--namespace", "franz", *args).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def ci_values(chart: str) -> tuple[str, str]:
    return ("--values", str(CHARTS / chart / "ci" / "ci-values.yaml"))


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def workloads(manifests: list[Manifest]) -> dict[str, Manifest]:
    """Deployments, and sachbearbeiter's StatefulSet: one pod template each."""
    return {**by_kind(manifests, "Deployment"), **by_kind(manifests, "StatefulSet")}


def containers(deployment: Manifest) -> list[Manifest]:
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.fixture(scope="module")
def umbrella(helm: Path) -> list[Manifest]:
    """The umbrella chart with its CI values, on a cluster that serves prometheus-operator's API."""
    return render(helm, "franz", *ci_values("franz"), *MONITORING)


# --- generated files, lint, values and schemas ----------------------------------------------------------


def test_generated_chart_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "charts.generate", "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, f"run `make charts`:\n{result.stdout}{result.stderr}"


def test_the_operator_chart_installs_the_crd_the_operator_defines() -> None:
    [shipped] = yaml.safe_load_all(
        (CHARTS / "franz-operator" / "crds" / f"{constants.CRD_NAME}.yaml").read_text()
    )
    assert shipped == crd.custom_resource_definition()
    printed = subprocess.run(
        [sys.executable, "-m", "franz", "operator", "--print-crd"], capture_output=True, text=True, check=True
    ).stdout
    assert yaml.safe_load(printed) == shipped


@pytest.mark.parametrize(
    ("chart", "values"),
    [("franz-lib", "default")]
    + [(chart, values) for chart in APPLICATION_CHARTS for values in ("default", "ci")],
)
def test_chart_lints_strictly(helm: Path, chart: str, values: str) -> None:
    args = ci_values(chart) if values == "ci" else ()
    result = helm_run(helm, "lint", "--strict", str(CHARTS / chart), *args)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def _keys(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(where, key) for every key in one of values/schema but not the other, down closed objects."""
    properties = schema.get("properties", {})
    for key in set(values) | set(properties):
        if key in HELM_KEYS and not prefix:
            continue
        if key not in properties:
            yield "schema lacks", prefix + key
        elif key not in values:
            yield "values.yaml lacks", prefix + key
        elif isinstance(values[key], dict) and properties[key].get("additionalProperties") is False:
            yield from _keys(values[key], properties[key], f"{prefix}{key}.")


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_values_and_schema_name_the_same_keys(chart: str) -> None:
    values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    assert sorted(_keys(values, schema)) == []


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_every_value_is_documented_with_an_example(chart: str) -> None:
    """Each value's comment has prose and, unless it is a mapping of documented values, an example
    (cert-manager's habit); `read` names every value that lacks either."""
    assert chart_values.read(chart).values


# `.Values.a.b`, also as `$.Values`, `$root.Values`, `(.Values.a).b`; and `hasKey .Values "a"`.
VALUES_READ = re.compile(r"\.Values((?:\)?\.\w+)+)|hasKey \.Values \"(\w+)\"")
# A variable bound to the values, such as franz-lib's `$values := $root.Values`.
VALUES_BOUND = re.compile(r"(\$\w+) := \$?\w*\.Values\s")


def _read_by_templates(chart: Path) -> set[str]:
    """The value paths a chart's templates and its dependencies' read; a condition in Chart.yaml reads one
    too. An application dependency has values of its own: of what it reads, only `global` is ours."""
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    read = {
        dependency["condition"]
        for dependency in metadata.get("dependencies", [])
        if "condition" in dependency
    }
    for template in (chart / "templates").iterdir():
        text = template.read_text()
        for variable in VALUES_BOUND.findall(text):
            text = text.replace(f"{variable}.", ".Values.")
        read |= {(path or key).replace(")", "").strip(".") for path, key in VALUES_READ.findall(text)}
    for dependency in sorted((chart / "charts").iterdir()) if (chart / "charts").is_dir() else ():
        library = yaml.safe_load((dependency / "Chart.yaml").read_text())["type"] == "library"
        read |= {path for path in _read_by_templates(dependency) if library or path.startswith("global.")}
    return read


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_every_value_is_read_by_a_template(chart: str) -> None:
    """cert-manager's lint for unused values: a value no template reads is a setting that does nothing.
    A template reading a whole mapping (`toYaml .Values.resources`) reads every value in it."""
    read = _read_by_templates(CHARTS / chart)
    unread = [
        value.path
        for value in chart_values.read(chart).values
        if not value.container
        and not any(value.path == path or value.path.startswith(f"{path}.") for path in read)
    ]
    assert unread == []


@pytest.mark.parametrize(
    ("chart", "setting", "complaint"),
    [
        ("aufbereitung", "replicacount=2", "replicacount"),
        ("kummerkasten", "replicaCount=2", "maximum"),
        # A role mention pasted for the role id: the bot would refuse to start.
        ("kummerkasten", "staffRoleId=<@&1122334455667788990>", "staffRoleId"),
        ("sachbearbeiter", "replicaCount=-1", "replicaCount"),
        ("absturz", "pipeline=Not_A_Name", "pipeline"),
        ("franz-operator", "metricsPort=80", "metricsPort"),
        ("franz", "global.pipeline=", "pipeline"),
        # Each service's own image.pullPolicy applies; no template reads a global one.
        ("franz", "global.image.pullPolicy=Always", "pullPolicy"),
        ("franz", "aufbereitung.logFormat=xml", "logFormat"),
        ("franz", "sachbearbeiter.enabled=maybe", "enabled"),
    ],
)
def test_schema_refuses_values_that_cannot_work(helm: Path, chart: str, setting: str, complaint: str) -> None:
    result = helm_run(helm, "template", "franz", str(CHARTS / chart), "--set", setting, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


# --- the Deployments --------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", ["default", "ci"])
def test_every_process_runs_restricted_probed_and_limited(helm: Path, values: str) -> None:
    manifests = render(helm, "franz", *(ci_values("franz") if values == "ci" else ()))
    deployments = workloads(manifests)
    assert set(deployments) == {"franz-operator", *(f"franz-{service}" for service in SERVICES)}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        [container] = containers(deployment)
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"], name
        assert container["resources"]["limits"]["memory"], name
        assert container["resources"]["requests"]["cpu"], name
        [port] = container["ports"]
        env = {e["name"]: e for e in container["env"]}
        assert env["METRICS_PORT"]["value"] == str(port["containerPort"]), name
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, name
        if name == "franz-operator":
            assert "readinessProbe" not in container
        else:
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, name
            assert pod["automountServiceAccountToken"] is False, name


def test_services_load_the_pipeline_config_and_secret_by_name(umbrella: list[Manifest]) -> None:
    deployments = workloads(umbrella)
    secret_keys = {
        "aufbereitung": set(),
        "absturz": {"DISCORD_WEBHOOK_URL"},
        "kummerkasten": {"DISCORD_TOKEN"},
        "sachbearbeiter": set(),
    }
    for service, port in SERVICES.items():
        deployment = deployments[f"franz-{service}"]
        [container] = containers(deployment)
        assert container["args"] == [service]
        assert container["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
        assert container["envFrom"] == [{"configMapRef": {"name": "franz-ci-config"}}]
        from_secret = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert from_secret == {key: {"name": "franz-ci-secrets", "key": key} for key in secret_keys[service]}
        # The operator lists Deployments by this label to roll them when the pipeline changes.
        assert deployment["metadata"]["labels"]["franz.dev/pipeline"] == "ci"
        assert deployment["spec"]["template"]["metadata"]["labels"]["franz.dev/pipeline"] == "ci"
        assert (
            container["image"] == "registry.example/franz:1.2.3@sha256:"
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        )


def test_service_settings_reach_their_environment(helm: Path) -> None:
    def env_of(chart: str, *args: str) -> dict[str, Any]:
        [deployment] = workloads(render(helm, chart, *args)).values()
        [container] = containers(deployment)
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

    aufbereitung = env_of("aufbereitung", *ci_values("aufbereitung"))
    assert aufbereitung["EXACTLY_ONCE"] == "true"
    # Transactional ids must be unique per live producer: the pod's name is.
    assert aufbereitung["TRANSACTIONAL_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert aufbereitung["GROUP_ID"] == "ci-aufbereitung"
    assert "TRANSACTIONAL_ID" not in env_of("aufbereitung")
    absturz = env_of("absturz", *ci_values("absturz"))
    assert (absturz["ALERT_BATCH_WINDOW_SECONDS"], absturz["DISCORD_REQUEST_TIMEOUT_SECONDS"]) == ("5", "5")
    kummerkasten = env_of("kummerkasten", *ci_values("kummerkasten"))
    assert kummerkasten["DISCORD_GUILD_ID"] == "987654321098765432"
    assert kummerkasten["DISCORD_CLIENT_ID"] == "1234567890123456789"
    assert kummerkasten["TICKET_COOLDOWN_SECONDS"] == "60"
    assert kummerkasten["STAFF_ROLE_ID"] == "1122334455667788990"
    assert (kummerkasten["LOG_FORMAT"], kummerkasten["LOG_LEVEL"]) == ("text", "DEBUG")
    # Without a guild the commands register globally: the variable is left out, not set empty (the bot
    # refuses an empty id). Without a staff role nobody is staff.
    assert {"DISCORD_GUILD_ID", "DISCORD_CLIENT_ID", "STAFF_ROLE_ID"}.isdisjoint(env_of("kummerkasten"))
    sachbearbeiter = env_of("sachbearbeiter", *ci_values("sachbearbeiter"))
    assert sachbearbeiter["SACHBEARBEITER_GROUP_ID"] == "ci-sachbearbeiter"
    store = {"SACHBEARBEITER_STORE_DIR": "/var/lib/franz/tickets"}
    assert set(env_of("sachbearbeiter")) == {"METRICS_PORT", "LOG_LEVEL", "LOG_FORMAT", *store}
    assert sachbearbeiter["SACHBEARBEITER_STORE_DIR"] == store["SACHBEARBEITER_STORE_DIR"]
    assert env_of("kummerkasten")["TICKETS_API_URL"] == "http://franz-sachbearbeiter-headless:9104"
    operator = env_of("franz-operator", *ci_values("franz-operator"))
    assert operator["OPERATOR_NAMESPACES"] == "support,billing"
    assert (operator["OPERATOR_RESYNC_SECONDS"], operator["OPERATOR_WORKERS"]) == ("60", "8")
    assert env_of("franz-operator")["OPERATOR_NAMESPACES"] == ""


def test_each_service_starts_from_the_operators_config_map_and_its_charts_env(
    umbrella: list[Manifest],
) -> None:
    """The contract the pods live by: the ConfigMap the operator writes for the pipeline (loaded with
    envFrom), the Secret keys and the chart's own env together are a complete, valid configuration for
    each service's real settings loader, naming the pipeline's topics and a group of its own. The chart's
    env never sets a variable the operator writes: env wins over envFrom, so it would shadow the pipeline."""
    pipeline = from_body(
        {
            "metadata": {"name": "ci", "namespace": "franz", "uid": "u-1", "generation": 1},
            "spec": {
                "kafka": {"bootstrapServers": "kafka:9092", "topicBackend": "admin"},
                "topics": {role: {"name": f"ci-{role}"} for role in constants.TOPIC_ROLES},
            },
        }
    )
    config_map = builders.service_environment(pipeline)
    secret = {"DISCORD_TOKEN": "bot-token", "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/t"}
    environments = {}
    for service in SERVICES:
        [container] = containers(workloads(umbrella)[f"franz-{service}"])
        own = {
            e["name"]: e.get("value") or secret[e["valueFrom"]["secretKeyRef"]["key"]]
            for e in container["env"]
        }
        assert set(own).isdisjoint(config_map), service
        environments[service] = config_map | own

    def topic(role: str) -> str:
        return pipeline.topic(role).name

    lifecycle = LifecycleTopics(
        formatted=topic("formatted"),
        commands=topic("commands"),
        events=topic("events"),
        state=topic("state"),
        dlq=topic(dead_letter_role("commands")),
    )
    aufbereitung = AufbereitungSettings.from_env(environments["aufbereitung"])
    assert (aufbereitung.source_topic, aufbereitung.target_topic) == (topic("intake"), topic("formatted"))
    absturz = AbsturzSettings.from_env(environments["absturz"])
    # Everything that is dead-lettered reaches Discord, the lifecycle's refused records too.
    assert set(absturz.topics) == {topic("errors"), lifecycle.dlq, topic(dead_letter_role("formatted"))}
    sachbearbeiter = SachbearbeiterSettings.from_env(environments["sachbearbeiter"])
    assert sachbearbeiter.topics == lifecycle
    kummerkasten = KummerkastenSettings.from_env(environments["kummerkasten"])
    assert (kummerkasten.topic, kummerkasten.lifecycle_topics) == (topic("intake"), lifecycle)
    assert kummerkasten.staff_role_id == 1122334455667788990
    assert kummerkasten.token.reveal() == "bot-token"
    groups = [
        aufbereitung.group_id,
        absturz.group_id,
        sachbearbeiter.group_id,
        # The bot's own group on ticket-events: sharing sachbearbeiter's would take its partitions away.
        kummerkasten.notify_group,
    ]
    assert len(set(groups)) == len(groups)
    # Two pipelines on one Kafka never share a group.
    assert all(group.startswith("franz-franz-ci-") for group in groups), groups
    ports = [settings.metrics_port for settings in (aufbereitung, absturz, kummerkasten, sachbearbeiter)]
    assert ports == list(SERVICES.values())


def test_one_bot_and_one_operator_are_recreated_never_rolled(umbrella: list[Manifest]) -> None:
    deployments = workloads(umbrella)
    for name in ("franz-operator", "franz-kummerkasten"):
        assert deployments[name]["spec"]["replicas"] == 1
        assert deployments[name]["spec"]["strategy"] == {"type": "Recreate"}
    # The consumer services scale: a group member takes whole partitions (sachbearbeiter rebuilds their
    # tickets from the event log), and a rolling update hands them over.
    for name, replicas in (("franz-aufbereitung", 2), ("franz-sachbearbeiter", 3)):
        assert deployments[name]["spec"]["replicas"] == replicas
        assert "strategy" not in deployments[name]["spec"]


def test_sachbearbeiter_keeps_its_store_on_a_volume_per_replica(helm: Path, umbrella: list[Manifest]) -> None:
    """A StatefulSet with a claim per replica, mounted where SACHBEARBEITER_STORE_DIR points; its headless
    Service names the replicas, and the bot asks them all through it."""
    [statefulset] = by_kind(render(helm, "sachbearbeiter"), "StatefulSet").values()
    spec = statefulset["spec"]
    [claim] = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "store"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert "storageClassName" not in claim["spec"], "the cluster's default class"
    [container] = containers(statefulset)
    assert {"name": "store", "mountPath": "/var/lib/franz"} in container["volumeMounts"]
    assert spec["podManagementPolicy"] == "Parallel"
    [headless] = [
        s
        for s in by_kind(render(helm, "sachbearbeiter"), "Service").values()
        if s["spec"].get("clusterIP") == "None"
    ]
    assert spec["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["selector"] == spec["selector"]["matchLabels"]

    classed = by_kind(
        render(helm, "sachbearbeiter", "--set", "store.storageClassName=local", "--set", "store.size=5Gi"),
        "StatefulSet",
    )
    [claim] = next(iter(classed.values()))["spec"]["volumeClaimTemplates"]
    assert (claim["spec"]["storageClassName"], claim["spec"]["resources"]["requests"]["storage"]) == (
        "local",
        "5Gi",
    )
    [ephemeral] = by_kind(
        render(helm, "sachbearbeiter", "--set", "store.persistent=false"), "StatefulSet"
    ).values()
    assert "volumeClaimTemplates" not in ephemeral["spec"]
    assert {"name": "store", "emptyDir": {"sizeLimit": "1Gi"}} in ephemeral["spec"]["template"]["spec"][
        "volumes"
    ]

    bot = {e["name"]: e.get("value") for e in containers(workloads(umbrella)["franz-kummerkasten"])[0]["env"]}
    umbrella_headless = by_kind(umbrella, "Service")["franz-sachbearbeiter-headless"]
    assert bot["TICKETS_API_URL"] == f"http://{umbrella_headless['metadata']['name']}:9104"


def test_every_object_carries_the_recommended_labels(umbrella: list[Manifest]) -> None:
    for manifest in umbrella:
        labels = manifest["metadata"]["labels"]
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        assert labels["app.kubernetes.io/part-of"] == "franz", where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where
        assert labels["app.kubernetes.io/instance"] == "franz", where
        assert labels["app.kubernetes.io/version"] == "0.1.0", where
        assert labels["app.kubernetes.io/name"], where
        assert labels["app.kubernetes.io/component"], where
        assert labels["helm.sh/chart"], where


def test_the_operator_never_carries_a_pipeline_label(umbrella: list[Manifest]) -> None:
    """Labelled, it would roll itself whenever a pipeline changed."""
    operator = [m for m in umbrella if m["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"]
    assert {m["kind"] for m in operator} >= {"Deployment", "ServiceAccount", "ClusterRole", "Service"}
    for manifest in operator:
        assert "franz.dev/pipeline" not in manifest["metadata"]["labels"]


# --- the operator's access ----------------------------------------------------------------------------------


def test_operator_cluster_role_is_exactly_what_the_operator_uses(umbrella: list[Manifest]) -> None:
    [role] = by_kind(umbrella, "ClusterRole").values()
    assert role["rules"] == rbac.CLUSTER_RULES
    # Standalone: no kopf peering resources, so no access to them either.
    assert not any("peerings" in " ".join(rule["resources"]) for rule in role["rules"])


def test_operator_service_account_is_bound_to_its_role(umbrella: list[Manifest]) -> None:
    [binding] = by_kind(umbrella, "ClusterRoleBinding").values()
    [account] = by_kind(umbrella, "ServiceAccount").values()
    [role] = by_kind(umbrella, "ClusterRole").values()
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "franz"}
    ]
    operator = by_kind(umbrella, "Deployment")["franz-operator"]["spec"]["template"]["spec"]
    assert operator["serviceAccountName"] == account["metadata"]["name"]


def test_the_operator_chart_guards_what_no_reconcile_can_undo(helm: Path) -> None:
    """The admission policies name the operator's own annotation, finalizer and labels (tests/integration/
    test_operator.py proves them on the API server); admissionPolicies.enabled=false leaves them out."""
    manifests = render(helm, "franz-operator")
    policies = by_kind(manifests, "ValidatingAdmissionPolicy")
    bindings = by_kind(manifests, "ValidatingAdmissionPolicyBinding")
    assert {b["spec"]["policyName"] for b in bindings.values()} == set(policies)
    assert all(b["spec"]["validationActions"] == ["Deny"] for b in bindings.values())
    topics = policies["franz-franz-operator-keep-kafka-topics"]["spec"]
    assert topics["matchConstraints"]["objectSelector"]["matchLabels"] == {
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY
    }
    [rule] = topics["validations"]
    assert f"'{constants.ANNOTATION_ALLOW_DELETION}'" in rule["expression"]
    for label in (constants.LABEL_PIPELINE, constants.LABEL_PIPELINE_NAMESPACE):
        assert f"'{label}'" in rule["messageExpression"]
    [pipelines] = policies["franz-franz-operator-delete-pipelines-with-their-topics"]["spec"]["validations"]
    assert f"'{constants.FINALIZER}'" in pipelines["expression"]
    opted_out = render(helm, "franz-operator", "--set", "admissionPolicies.enabled=false")
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}.isdisjoint(
        m["kind"] for m in opted_out
    )


# --- Services, monitoring, optional objects -----------------------------------------------------------------


def test_monitoring_objects_only_where_prometheus_operator_serves_them(helm: Path) -> None:
    without = render(helm, "franz", *ci_values("franz"))
    assert {"ServiceMonitor", "PrometheusRule"}.isdisjoint(m["kind"] for m in without)
    opted_out = render(
        helm,
        "franz",
        *MONITORING,
        "--set",
        "prometheusRule.enabled=false",
        "--set",
        "absturz.serviceMonitor.enabled=false",
    )
    assert "PrometheusRule" not in {m["kind"] for m in opted_out}
    assert "franz-absturz" not in by_kind(opted_out, "ServiceMonitor")


def test_each_service_monitor_scrapes_its_service(umbrella: list[Manifest]) -> None:
    services = {
        name: service
        for name, service in by_kind(umbrella, "Service").items()
        if "franz.dev/headless" not in service["metadata"]["labels"]
    }
    monitors = by_kind(umbrella, "ServiceMonitor")
    assert set(monitors) == set(services) == {"franz-operator", *(f"franz-{s}" for s in SERVICES)}
    for name, monitor in monitors.items():
        service = services[name]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert service["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]
        # One Service per pod set: a headless one over the same pods (sachbearbeiter's) is left out.
        assert monitor["spec"]["selector"]["matchExpressions"] == [
            {"key": "franz.dev/headless", "operator": "DoesNotExist"}
        ]
        [endpoint] = monitor["spec"]["endpoints"]
        # Franz's own `service` label must survive the scrape: alerts and dashboards group by it.
        assert endpoint["honorLabels"] is True
        assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        [port] = service["spec"]["ports"]
        assert (port["name"], port["targetPort"]) == ("metrics", "metrics")
    assert services["franz-operator"]["spec"]["ports"][0]["port"] == OPERATOR_PORT


def test_prometheus_rule_is_the_promtool_tested_rule_file(umbrella: list[Manifest]) -> None:
    [rule] = by_kind(umbrella, "PrometheusRule").values()
    assert rule["spec"] == yaml.safe_load((CHARTS / "franz" / "files" / "prometheus-rules.yaml").read_text())
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"]["team"] == "support"


def test_optional_disruption_budgets_and_network_policies(helm: Path) -> None:
    assert {"PodDisruptionBudget", "NetworkPolicy"}.isdisjoint(m["kind"] for m in render(helm, "franz"))
    manifests = render(helm, "aufbereitung", *ci_values("aufbereitung"))
    [budget] = by_kind(manifests, "PodDisruptionBudget").values()
    [policy] = by_kind(manifests, "NetworkPolicy").values()
    [deployment] = by_kind(manifests, "Deployment").values()
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    assert policy["spec"]["podSelector"] == {"matchLabels": selector}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    # Without egress rules, egress stays open: brokers and Discord live where only the cluster knows.
    [open_egress] = by_kind(render(helm, "absturz", *ci_values("absturz")), "NetworkPolicy").values()
    assert open_egress["spec"]["policyTypes"] == ["Ingress"]


def test_dashboards_ship_as_labelled_config_maps(umbrella: list[Manifest]) -> None:
    maps = by_kind(umbrella, "ConfigMap")
    shipped = {path.name: path.read_text() for path in (CHARTS / "franz" / "dashboards").glob("*.json")}
    assert set(shipped) == {f"{uid}.json" for uid in DASHBOARDS}
    assert set(maps) == {f"franz-dashboard-{uid}" for uid in DASHBOARDS}
    for config_map in maps.values():
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Franz"}
        [(name, content)] = config_map["data"].items()
        assert json.loads(content) == json.loads(shipped[name])


def test_example_pipeline_only_when_asked_and_named_after_the_pipeline(
    helm: Path, umbrella: list[Manifest]
) -> None:
    assert "FranzPipeline" not in {m["kind"] for m in render(helm, "franz")}
    [pipeline] = by_kind(umbrella, "FranzPipeline").values()
    assert pipeline["apiVersion"] == f"{constants.GROUP}/{constants.VERSION}"
    assert pipeline["metadata"]["name"] == "ci"
    assert pipeline["spec"]["kafka"] == {"bootstrapServers": "kafka:9092", "topicBackend": "admin"}


@pytest.mark.parametrize("service", SERVICES)
def test_a_disabled_service_installs_nothing(helm: Path, service: str) -> None:
    manifests = render(helm, "franz", *MONITORING, "--set", f"{service}.enabled=false")
    names = {m["metadata"]["labels"]["app.kubernetes.io/name"] for m in manifests}
    assert service not in names
    assert set(SERVICES) - {service} <= names


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_notes_tell_what_to_do_next(helm: Path, chart: str) -> None:
    notes = helm_run(
        helm, "install", "franz", str(CHARTS / chart), "--dry-run=client", "--namespace", "franz"
    ).stdout.partition("NOTES:")[2]
    assert "kubectl " in notes
    if chart != "franz-operator":
        assert "franz-default-config" in notes
        assert "kubectl get franzpipeline default -n franz" in notes


# --- installed into the real kube-apiserver -----------------------------------------------------------------


def test_umbrella_chart_installs_into_a_real_api_server_and_uninstalls(
    helm: Path, kubectl: Path, kubeconfig: Path
) -> None:
    namespace = f"charts-{uuid.uuid4().hex[:8]}"
    # A fresh release name per run: the ClusterRole and its binding are cluster-wide.
    release = f"franz-{uuid.uuid4().hex[:6]}"
    pipeline = "support"

    def kube(*args: str) -> str:
        result = subprocess.run(
            [str(kubectl), "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def names(kind: str) -> set[str]:
        listed = json.loads(
            kube("get", kind, "-n", namespace, "-l", f"app.kubernetes.io/instance={release}", "-o", "json")
        )
        return {item["metadata"]["name"] for item in listed["items"]}

    helm_args = ("--kubeconfig", str(kubeconfig), "--namespace", namespace)
    install = helm_run(
        helm,
        "install",
        release,
        str(CHARTS / "franz"),
        *helm_args,
        "--create-namespace",
        "--set",
        f"global.pipeline={pipeline}",
        "--set",
        "examplePipeline.enabled=true",
    )
    assert "STATUS: deployed" in install.stdout

    kube("wait", "--for=condition=Established", f"crd/{constants.CRD_NAME}", "--timeout=60s")
    created = json.loads(kube("get", "franzpipeline", pipeline, "-n", namespace, "-o", "json"))
    # The API server applied the CRD's defaults: the example was accepted as a real FranzPipeline.
    assert {role: topic["name"] for role, topic in created["spec"]["topics"].items()} == constants.TOPIC_ROLES
    rolled = json.loads(
        kube(
            "get",
            "deployments,statefulsets",
            "-n",
            namespace,
            "-l",
            f"franz.dev/pipeline={pipeline}",
            "-o",
            "json",
        )
    )
    assert {d["metadata"]["name"] for d in rolled["items"]} == {f"{release}-{s}" for s in SERVICES}
    assert {d["kind"] for d in rolled["items"]} == {"Deployment", "StatefulSet"}
    headless = f"{release}-sachbearbeiter-headless"
    assert names("services") == {f"{release}-{s}" for s in ("operator", *SERVICES)} | {headless}
    assert names("configmaps") == {f"{release}-dashboard-{uid}" for uid in DASHBOARDS}
    assert names("serviceaccounts") == {f"{release}-operator"}
    role = json.loads(kube("get", "clusterrole", f"{release}-operator", "-o", "json"))
    assert role["rules"] == rbac.CLUSTER_RULES
    # The API server's own view of RBAC: the operator's account may patch Deployments but not delete them.
    account = f"system:serviceaccount:{namespace}:{release}-operator"
    for workload in ("deployments", "statefulsets"):
        assert kube("auth", "can-i", "patch", workload, "--as", account, "-n", "default").strip() == "yes"
    denied = subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(kubeconfig),
            "auth",
            "can-i",
            "delete",
            "deployments",
            "--as",
            account,
        ],
        capture_output=True,
        text=True,
    )
    assert denied.stdout.strip() == "no"

    helm_run(helm, "uninstall", release, *helm_args)
    assert names("deployments") == set()
    assert names("statefulsets") == set()
    assert names("services") == set()
    assert helm_run(helm, "list", *helm_args, "--short").stdout.strip() == ""
    # helm keeps CRDs on uninstall, so the pipelines of other releases survive.
    kube("get", f"crd/{constants.CRD_NAME}")
