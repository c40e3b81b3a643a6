"""Kafka security settings: Strimzi's Secret shapes as files, each mistake one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from franz.exceptions import ConfigError
from franz.runtime.security import client_config
from franz.runtime.settings import Environment


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A CA, a user certificate and key, and a password, as a mounted Strimzi Secret holds them."""
    paths = {}
    for name, content in {
        "ca.crt": "ca",
        "user.crt": "cert",
        "user.key": "key",
        "password": "s3cret\n",
    }.items():
        (tmp_path / name).write_text(content)
        paths[name] = str(tmp_path / name)
    return paths


def test_plaintext_is_the_default_and_sets_nothing_else() -> None:
    security = Environment({}).kafka_security()
    assert security.protocol == "PLAINTEXT"
    assert client_config(security) == {"security_protocol": "PLAINTEXT"}


def test_scram_over_tls_reads_the_password_file_each_time_a_client_is_configured(
    files: dict[str, str],
) -> None:
    security = Environment(
        {
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SSL_CA_FILE": files["ca.crt"],
            "KAFKA_SASL_USERNAME": "aufbereitung",
            "KAFKA_SASL_PASSWORD_FILE": files["password"],
        }
    ).kafka_security()
    assert client_config(security) == {
        "security_protocol": "SASL_SSL",
        "ssl_cafile": files["ca.crt"],
        "ssl_certfile": None,
        "ssl_keyfile": None,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "aufbereitung",
        "sasl_plain_password": "s3cret",
    }
    Path(files["password"]).write_text("rotated")
    assert client_config(security)["sasl_plain_password"] == "rotated"


def test_the_password_never_prints(files: dict[str, str]) -> None:
    security = Environment(
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "hunter2"}
    ).kafka_security()
    assert "hunter2" not in repr(security)
    assert "hunter2" not in f"{security}"


def test_mutual_tls_takes_the_user_certificate_and_key(files: dict[str, str]) -> None:
    security = Environment(
        {
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": files["ca.crt"],
            "KAFKA_SSL_CERT_FILE": files["user.crt"],
            "KAFKA_SSL_KEY_FILE": files["user.key"],
        }
    ).kafka_security()
    config = client_config(security)
    assert (config["ssl_certfile"], config["ssl_keyfile"]) == (files["user.crt"], files["user.key"])
    assert "sasl_mechanism" not in config


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/nowhere/ca.crt"}, "KAFKA_SSL_CA_FILE"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_USERNAME"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SECURITY_PROTOCOL"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "p",
                "KAFKA_SASL_MECHANISM": "GSSAPI",
            },
            "KAFKA_SASL_MECHANISM",
        ),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_USERNAME"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SSL_CA_FILE": "ca"}, "KAFKA_SSL_CA_FILE"),
    ],
)
def test_a_bad_security_setting_names_its_variable(
    environ: dict[str, str], variable: str, files: dict[str, str]
) -> None:
    if environ.get("KAFKA_SSL_CA_FILE") == "ca":
        environ = {**environ, "KAFKA_SSL_CA_FILE": files["ca.crt"]}
    with pytest.raises(ConfigError) as failure:
        Environment(environ).kafka_security()
    assert str(failure.value).startswith(variable)
    assert "\n" not in str(failure.value)


def test_a_certificate_without_its_key_is_refused(files: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE"):
        Environment(
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_FILE": files["user.crt"]}
        ).kafka_security()
