"""Lambda layers built on this machine, without Docker (CDK local bundling)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

ROOT = Path(__file__).resolve().parent.parent
# The runtime's Python version, written once: the Makefile builds the test venv with it too.
LAMBDA_PYTHON = (ROOT / "layers" / "python-version").read_text().strip()
# Machine names of Lambda's architectures, as wheel platform tags spell them.
WHEEL_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}


def wheel_platforms(architecture: str) -> tuple[str, ...]:
    """Lambda's Python 3.12+ runs on Amazon Linux 2023 (glibc 2.34): both wheel tags load there."""
    machine = WHEEL_MACHINES[architecture]
    return (f"manylinux2014_{machine}", f"manylinux_2_28_{machine}")


# Only used if local bundling were refused; it never is, so no image is pulled.
_UNUSED_IMAGE = cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python" + LAMBDA_PYTHON)


@jsii.implements(cdk.ILocalBundling)
class PipInstall:
    """`pip install -r requirements.txt` for the Lambda platform into python/."""

    def __init__(self, requirements: Path, architecture: str) -> None:
        self.requirements = requirements
        self.platforms = wheel_platforms(architecture)

    # jsii passes `options` positionally.
    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        subprocess.run(  # noqa: S603 (our own pip, our own requirements file)
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--requirement",
                str(self.requirements),
                "--target",
                str(Path(output_dir) / "python"),
                *(option for platform in self.platforms for option in ("--platform", platform)),
                "--implementation",
                "cp",
                "--python-version",
                LAMBDA_PYTHON,
                "--only-binary=:all:",
            ],
            check=True,
        )
        return True


@jsii.implements(cdk.ILocalBundling)
class CopyTree:
    """Copy a source tree into the asset, leaving caches (and anything `leave_out` names) behind."""

    def __init__(self, source: Path, leave_out: tuple[str, ...] = ()) -> None:
        self.source = source
        self.leave_out = leave_out

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        shutil.copytree(
            self.source,
            output_dir,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", *self.leave_out),
        )
        return True


def bundled(source: Path, local: Any) -> cdk.aws_lambda.Code:
    return cdk.aws_lambda.Code.from_asset(
        str(source),
        bundling=cdk.BundlingOptions(image=_UNUSED_IMAGE, local=local),
        exclude=["__pycache__", "*.pyc", "*.egg-info"],
    )


def deps_layer_code(architecture: str) -> cdk.aws_lambda.Code:
    requirements = ROOT / "layers" / "deps" / "requirements.txt"
    return bundled(requirements.parent, PipInstall(requirements, architecture))


def core_layer_code() -> cdk.aws_lambda.Code:
    # The layer's python/ folder lands on sys.path at /opt/python.
    # carton.client (the CLI and Python client) runs on people's machines, never in a Lambda.
    return bundled(ROOT / "layers" / "core", CopyTree(ROOT / "layers" / "core", leave_out=("client",)))


@jsii.implements(cdk.ILocalBundling)
class WithOpenApiDocument(CopyTree):
    """The openapi function, with the document generated from every API function."""

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        super().try_bundle(output_dir, options)
        subprocess.run(  # noqa: S603 (our own module, with this interpreter)
            [
                sys.executable,
                "-m",
                "carton.web.openapi",
                str(ROOT / "functions"),
                str(Path(output_dir) / "openapi.json"),
            ],
            check=True,
        )
        return True


def function_code(name: str) -> cdk.aws_lambda.Code:
    source = ROOT / "functions" / name
    if name == "openapi":
        return bundled(source, WithOpenApiDocument(source))
    return cdk.aws_lambda.Code.from_asset(str(source), exclude=["__pycache__", "*.pyc"])
