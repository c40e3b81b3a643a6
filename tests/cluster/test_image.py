"""The image as built from the Dockerfile: what is in it, and what never is."""

from __future__ import annotations

import io
import json
import re
import tarfile

from franz.devstack.images import ImageArchive

SITE_PACKAGES = re.compile(r"^opt/franz/lib/python3\.\d+/site-packages/([^/]+)")


def installed(image: ImageArchive) -> set[str]:
    """The top-level names in the image's site-packages, read from its layers."""
    names: set[str] = set()
    with tarfile.open(image.path) as archive:
        manifest = archive.extractfile("manifest.json")
        assert manifest is not None
        [entry] = json.load(manifest)
        for layer_name in entry["Layers"]:
            layer = archive.extractfile(layer_name)
            assert layer is not None
            with tarfile.open(fileobj=io.BytesIO(layer.read())) as files:
                for member in files.getnames():
                    match = SITE_PACKAGES.match(member.lstrip("./"))
                    if match:
                        names.add(match.group(1))
                        if member.lstrip("./").find("site-packages/franz/devstack") >= 0:
                            names.add("franz/devstack")
    return names


def test_the_image_holds_franz_and_the_operator_but_not_the_dev_stack(image: ImageArchive) -> None:
    packages = installed(image)
    assert {"franz", "franz_operator", "kafka", "kopf", "discord"} <= packages
    assert "franz/devstack" not in packages
    # The dev stack's own dependencies stay out too (aiohttp stays: discord.py and kopf need it).
    assert not {name for name in packages if name.startswith("cryptography")}
    assert not {name for name in packages if name.startswith(("pytest", "mypy", "ruff", "hypothesis"))}
