"""Run environments: the run definition's ``Environment`` section, what of it this machine cannot
honour, and virtual environments built from its pip list, cached by a hash of what determines
them and shared between runs (and between processes: each run has its own agent)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlite.errors import AmliteError, BadRequest

READY = ".amlite-ready"
_OUTPUT_TAIL = 200
_CONDA_NAME = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9_.-]+)")
_PIN = re.compile(r"^\s*(==|=|>=|<=|>|<|!=)?\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


class EnvironmentBuildError(AmliteError):
    """A virtual environment could not be made; ``output`` is the tail of the installer's output."""

    code = "EnvironmentBuildFailed"

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass
class EnvironmentSpec:
    user_managed: bool = False
    interpreter_path: str = "python"
    pip: list[str] = field(default_factory=list)
    conda_packages: list[str] = field(default_factory=list)  # conda-only: never installed here
    python_pin: str | None = None  # the conda dependency as written, e.g. "python=3.6.2"
    docker_base_image: str | None = None
    docker_base_dockerfile: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)


def _get(section: dict[str, Any], key: str) -> Any:
    """A value by case-insensitive key (the how-to posts PascalCase, the SDK camelCase)."""
    lowered = key.lower()
    return next((value for name, value in section.items() if name.lower() == lowered), None)


def _object(section: dict[str, Any], key: str) -> dict[str, Any]:
    value = _get(section, key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Environment: '{key}' must be an object.", code="InvalidEnvironment", target=key)
    return value


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"Environment: '{key}' must be a list of strings.", code="InvalidEnvironment", target=key)
    return value


def parse_environment(section: dict[str, Any] | None) -> EnvironmentSpec:
    """The run definition's ``Environment`` section, keys read case-insensitively."""
    section = section or {}
    if not isinstance(section, dict):
        raise BadRequest("Environment must be an object.", code="InvalidEnvironment", target="Environment")
    python = _object(section, "Python")
    docker = _object(section, "Docker")
    spec = EnvironmentSpec(
        user_managed=str(_get(python, "UserManagedDependencies")).lower() == "true",
        interpreter_path=str(_get(python, "InterpreterPath") or "python"),
        environment_variables={name: str(value) for name, value in _object(section, "EnvironmentVariables").items()},
    )
    if _get(docker, "Enabled") is not False:  # the how-to names a BaseImage without Enabled
        spec.docker_base_image = _get(docker, "BaseImage") or None
        spec.docker_base_dockerfile = _get(docker, "BaseDockerfile") or None
    conda = _object(python, "CondaDependencies")
    dependencies = _get(conda, "dependencies") or []
    if not isinstance(dependencies, list):
        raise BadRequest("Environment: CondaDependencies 'dependencies' must be a list.",
                         code="InvalidEnvironment", target="dependencies")
    for dependency in dependencies:
        if isinstance(dependency, dict):
            spec.pip += _strings(_get(dependency, "pip"), "pip")
            continue
        match = _CONDA_NAME.match(str(dependency))
        name = match.group(1).lower() if match else ""
        if name == "python":
            spec.python_pin = str(dependency)
        elif name != "pip":  # pip itself: the venv's installer stands in for it
            spec.conda_packages.append(str(dependency))
    return spec


def _pin_allows(pin: str, version: str) -> bool | None:
    """Does a conda ``python`` pin ('python=3.6', 'python>=3.8,<3.12', 'python 3.11.*') accept
    ``version``? None when the pin cannot be read."""
    constraints = re.sub(r"^(?:[\w.-]+::)?python", "", pin.strip(), flags=re.IGNORECASE)
    have = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    for constraint in filter(str.strip, constraints.split(",")):
        match = _PIN.match(constraint)
        if not match:
            return None
        op, wanted, star = match.group(1) or "=", tuple(int(p) for p in match.group(2).split(".")), match.group(3)
        if op == "=" or (op == "==" and star):  # conda: '=3.6' and '3.6.*' mean any 3.6.x
            ok = have[:len(wanted)] == wanted
        elif star:
            return None
        else:
            padded = wanted + (0,) * (len(have) - len(wanted))
            ok = {"==": have == padded, "!=": have != padded, ">=": have >= padded, "<=": have <= padded,
                  ">": have > padded, "<": have < padded}[op]
        if not ok:
            return False
    return True


def container_runtime_available() -> bool:
    """A docker client that reaches a running engine (the client alone is not enough)."""
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def warnings(spec: EnvironmentSpec, *, python_version: str | None = None,
             container_runtime: bool | None = None) -> list[str]:
    """What this machine cannot honour, for the run's warnings and log (never silently dropped).
    ``python_version`` defaults to the interpreter that builds venvs; ``container_runtime`` to a probe."""
    version = python_version or platform.python_version()
    found: list[str] = []
    if spec.user_managed:
        ignored = [*filter(None, [spec.python_pin]), *spec.conda_packages, *spec.pip]
        if ignored:
            found.append(f"UserManagedDependencies is true, so the listed dependencies are not installed "
                         f"({', '.join(ignored)}); the script runs with {spec.interpreter_path} as it is.")
    else:
        allowed = _pin_allows(spec.python_pin, version) if spec.python_pin else True
        if not allowed:
            problem = "cannot be honoured" if allowed is False else "cannot be read"
            found.append(f"The Python pin '{spec.python_pin}' {problem}: environments here are built "
                         f"with Python {version}.")
        if spec.conda_packages:
            found.append(f"Conda packages are not installed here, only the pip list is: "
                         f"{', '.join(spec.conda_packages)} (add them to the pip list to install them).")
    if spec.docker_base_image or spec.docker_base_dockerfile:
        if not (container_runtime if container_runtime is not None else container_runtime_available()):
            image = f"base image '{spec.docker_base_image}'" if spec.docker_base_image else "base Dockerfile"
            found.append(f"The Docker {image} is ignored: there is no container runtime on this machine, "
                         f"so the run uses a local Python environment.")
    return found


def spec_hash(spec: EnvironmentSpec) -> str:
    """The cache key of a built venv: the interpreter it is built from and the pip list. Not the
    python pin, conda packages or Docker image (not honoured here) nor environment variables."""
    identity = {
        "format": 1,
        "python": [sys.implementation.name, platform.python_version(), sys.base_prefix],
        "pip": sorted(set(spec.pip)),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _find_uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which("uv")


def _pip_arguments(pip: list[str]) -> list[str]:
    """Pip list entries as installer arguments; an option entry ('--extra-index-url URL') is split."""
    return [part for entry in pip for part in (shlex.split(entry) if entry.startswith("-") else [entry])]


class EnvironmentCache:
    """Built environments under ``root/<hash>/``, each made once (an fcntl lock per hash makes a
    second process wait for the build) and marked ready last.

    The venv is built in place under the lock rather than renamed into place: installers write
    absolute paths (console-script shebangs) that a rename would break. An unmarked folder is
    therefore a failed or interrupted build, removed before the next attempt.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self, spec: EnvironmentSpec, log: Callable[[str], None]) -> Path:
        """The python executable to run the script with."""
        if spec.user_managed:
            return self._user_interpreter(spec, log)
        key = spec_hash(spec)
        env = self.root / key
        python = env / "bin" / "python"
        if (env / READY).is_file():
            log(f"Reusing environment {key}.")
            return python
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"Waiting for another build of environment {key}.")
                fcntl.flock(lock, fcntl.LOCK_EX)
            if (env / READY).is_file():
                log(f"Reusing environment {key}.")
                return python
            self._build(spec, env, log)
        return python

    @staticmethod
    def _user_interpreter(spec: EnvironmentSpec, log: Callable[[str], None]) -> Path:
        found = shutil.which(spec.interpreter_path)
        if not found:
            raise EnvironmentBuildError(
                f"UserManagedDependencies is true but InterpreterPath '{spec.interpreter_path}' is not an "
                f"executable on this machine.")
        log(f"Using the user-managed interpreter {found}.")
        return Path(found)

    def _build(self, spec: EnvironmentSpec, env: Path, log: Callable[[str], None]) -> None:
        if env.exists():
            shutil.rmtree(env)  # an interrupted build
        python = env / "bin" / "python"
        uv = _find_uv()
        packages = _pip_arguments(spec.pip)
        if uv:
            steps = [("uv venv", [uv, "venv", "--python", sys.executable, str(env)]),
                     ("uv pip install", [uv, "pip", "install", "--python", str(python), *packages])]
        else:
            steps = [("python -m venv", [sys.executable, "-m", "venv", str(env)]),
                     ("pip install", [str(python), "-m", "pip", "install", *packages])]
        if not packages:
            steps.pop()
        cache = self.root / ".cache"
        variables = {**os.environ, "UV_CACHE_DIR": str(cache / "uv"), "PIP_CACHE_DIR": str(cache / "pip")}
        variables.pop("VIRTUAL_ENV", None)
        log(f"Building environment {env.name} with {'uv' if uv else 'pip'}.")
        for step, command in steps:
            code, output = _stream(command, variables, log)
            if code != 0:
                shutil.rmtree(env, ignore_errors=True)
                last = next((line for line in reversed(output) if line.strip()), "no output")
                raise EnvironmentBuildError(
                    f"Building the environment failed: {step} exited with code {code}: {last.strip()}",
                    output="\n".join(output))
        (env / READY).write_text(json.dumps({"pip": spec.pip, "python": platform.python_version()}))
        log(f"Environment {env.name} is ready.")


def _stream(command: list[str], variables: dict[str, str], log: Callable[[str], None]) -> tuple[int, deque[str]]:
    """Run an installer step, passing each output line to ``log`` as it arrives."""
    log(f"$ {shlex.join(command)}")
    tail: deque[str] = deque(maxlen=_OUTPUT_TAIL)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          env=variables, text=True, errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            log(line)
    return process.returncode, tail
