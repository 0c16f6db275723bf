"""Run environments: parsing the Environment section, warnings for what cannot be honoured here,
and venvs built once per spec (also across processes), reused, and cleaned up when a build fails."""

from __future__ import annotations

import fcntl
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlite.compute import environments
from amlite.compute.environments import (
    READY,
    EnvironmentBuildError,
    EnvironmentCache,
    EnvironmentSpec,
    container_runtime_available,
    parse_environment,
    spec_hash,
    warnings,
)
from amlite.errors import BadRequest

WALKTHROUGH = {
    "Python": {"InterpreterPath": "python", "UserManagedDependencies": False,
               "CondaDependencies": {"name": "project_environment",
                                     "dependencies": ["python=3.6.2", {"pip": ["azureml-defaults"]}]}},
    "Docker": {"BaseImage": "mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04"},
    "EnvironmentVariables": {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE", "Retries": 3},
}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Installers touch the home folder (uv's credential store lock, for one); keep that in tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


class Log(list):
    def __call__(self, line: str) -> None:
        self.append(line)

    def count(self, prefix: str) -> int:  # type: ignore[override]
        return sum(line.startswith(prefix) for line in self)


def run(python: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)


# --- parsing ---------------------------------------------------------------------------------

def test_parse_the_walkthrough_section():
    spec = parse_environment(WALKTHROUGH)
    assert spec == EnvironmentSpec(
        user_managed=False, interpreter_path="python", pip=["azureml-defaults"], conda_packages=[],
        python_pin="python=3.6.2",
        docker_base_image="mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04",
        environment_variables={"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE", "Retries": "3"})


def test_parse_reads_keys_case_insensitively_and_sorts_conda_from_pip():
    spec = parse_environment({
        "python": {"interpreterPath": "/opt/py/bin/python3", "userManagedDependencies": True,
                   "condaDependencies": {"Dependencies": ["conda-forge::numpy>=1.20", "pip=20.2.4",
                                                          "scipy", {"PIP": ["six", "--extra-index-url https://x"]}]}},
        "docker": {"enabled": False, "baseImage": "ubuntu:latest"},
        "environmentVariables": {"mixedCase": "kept"}})
    assert spec.user_managed and spec.interpreter_path == "/opt/py/bin/python3"
    assert spec.conda_packages == ["conda-forge::numpy>=1.20", "scipy"]  # pip itself is not a conda-only package
    assert spec.pip == ["six", "--extra-index-url https://x"]
    assert spec.python_pin is None
    assert spec.docker_base_image is None  # Docker explicitly disabled
    assert spec.environment_variables == {"mixedCase": "kept"}


def test_parse_defaults():
    assert parse_environment(None) == EnvironmentSpec()
    assert parse_environment({"Python": {"CondaDependencies": None}, "Docker": None}) == EnvironmentSpec()


@pytest.mark.parametrize("section, target", [
    ({"Python": "python3"}, "Python"),
    ({"Python": {"CondaDependencies": {"dependencies": "numpy"}}}, "dependencies"),
    ({"Python": {"CondaDependencies": {"dependencies": [{"pip": "six"}]}}}, "pip"),
    ({"EnvironmentVariables": ["A=1"]}, "EnvironmentVariables"),
])
def test_parse_rejects_wrong_shapes(section, target):
    with pytest.raises(BadRequest) as caught:
        parse_environment(section)
    assert caught.value.code == "InvalidEnvironment" and caught.value.target == target


# --- warnings --------------------------------------------------------------------------------

def test_walkthrough_warnings_on_a_machine_without_a_container_engine():
    spec = parse_environment(WALKTHROUGH)
    spec.conda_packages = ["numpy"]
    found = warnings(spec, python_version="3.11.7", container_runtime=False)
    assert found == [
        "The Python pin 'python=3.6.2' cannot be honoured: environments here are built with Python 3.11.7.",
        "Conda packages are not installed here, only the pip list is: numpy (add them to the pip list to "
        "install them).",
        "The Docker base image 'mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04' is ignored: there "
        "is no container runtime on this machine, so the run uses a local Python environment.",
    ]
    assert warnings(spec, python_version="3.6.2", container_runtime=True) == found[1:2]


@pytest.mark.parametrize("pin, honoured", [
    ("python", True), ("python=3.11", True), ("python=3.11.7", True), ("python 3.11.*", True),
    ("python>=3.8,<3.12", True), ("python==3.11.7", True), ("python!=3.10", True),
    ("python=3.6.2", False), ("python=3.1", False), ("python==3.11", False), ("python>=3.12", False),
    ("python<3.11", False), ("python>=3.8,<3.11", False),
])
def test_python_pins(pin, honoured):
    found = warnings(EnvironmentSpec(python_pin=pin), python_version="3.11.7", container_runtime=False)
    assert found == ([] if honoured else
                     [f"The Python pin '{pin}' cannot be honoured: environments here are built with Python 3.11.7."])


def test_unreadable_pin_is_reported():
    found = warnings(EnvironmentSpec(python_pin="python=3.11.7=h955ad1f_0"), python_version="3.11.7")
    assert found == ["The Python pin 'python=3.11.7=h955ad1f_0' cannot be read: environments here are built "
                     "with Python 3.11.7."]


def test_user_managed_dependencies_are_not_installed():
    spec = EnvironmentSpec(user_managed=True, interpreter_path="/usr/bin/python3", pip=["six"],
                           conda_packages=["numpy"], python_pin="python=3.6.2")
    assert warnings(spec, container_runtime=False) == [
        "UserManagedDependencies is true, so the listed dependencies are not installed (python=3.6.2, numpy, "
        "six); the script runs with /usr/bin/python3 as it is."]
    assert warnings(EnvironmentSpec(user_managed=True)) == []


def test_dockerfile_without_runtime_is_reported():
    found = warnings(EnvironmentSpec(docker_base_dockerfile="FROM ubuntu"), container_runtime=False)
    assert found == ["The Docker base Dockerfile is ignored: there is no container runtime on this machine, "
                     "so the run uses a local Python environment."]


def test_container_runtime_needs_a_working_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert container_runtime_available() is False  # no client
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    assert container_runtime_available() is False  # a client without an engine
    docker.write_text("#!/bin/sh\nexit 0\n")
    assert container_runtime_available() is True


# --- hashing ---------------------------------------------------------------------------------

def test_spec_hash_depends_on_the_pip_list_only():
    base = spec_hash(EnvironmentSpec(pip=["six", "tomli"]))
    assert base == spec_hash(EnvironmentSpec(pip=["tomli", "six"]))
    assert base == spec_hash(EnvironmentSpec(pip=["six", "tomli"], python_pin="python=3.6.2", conda_packages=["x"],
                                             docker_base_image="ubuntu", environment_variables={"A": "1"}))
    assert base != spec_hash(EnvironmentSpec(pip=["six"]))
    assert base != spec_hash(EnvironmentSpec(pip=["six==1.16.0", "tomli"]))


# --- building --------------------------------------------------------------------------------

def test_empty_pip_list_builds_a_clean_venv_that_is_reused(tmp_path):
    cache, log = EnvironmentCache(tmp_path / "envs"), Log()
    python = cache.ensure(EnvironmentSpec(), log)
    assert python == tmp_path / "envs" / spec_hash(EnvironmentSpec()) / "bin" / "python"
    result = run(python, "import sys; print(sys.prefix != sys.base_prefix); import pytest")
    assert result.stdout.strip() == "True" and "No module named 'pytest'" in result.stderr  # isolated
    assert log.count("Building environment") == 1 and log[-1].endswith("is ready.")
    marker = python.parent.parent / READY
    built_at = marker.stat().st_mtime_ns

    again = Log()
    assert cache.ensure(EnvironmentSpec(environment_variables={"X": "1"}), again) == python
    assert again == [f"Reusing environment {spec_hash(EnvironmentSpec())}."]
    assert marker.stat().st_mtime_ns == built_at


def test_pip_list_is_installed_and_output_streamed(tmp_path):
    log = Log()
    python = EnvironmentCache(tmp_path / "envs").ensure(EnvironmentSpec(pip=["six"]), log)
    assert run(python, "import six; print(six.__name__)").stdout.strip() == "six"
    assert any(line.startswith("$ ") and "pip install" in line for line in log)
    assert any("six" in line and not line.startswith("$ ") for line in log)  # the installer's own output


def test_pip_fallback_without_uv(tmp_path, monkeypatch):
    monkeypatch.setattr(environments, "_find_uv", lambda: None)
    log = Log()
    python = EnvironmentCache(tmp_path / "envs").ensure(EnvironmentSpec(pip=["six"]), log)
    assert run(python, "import six").returncode == 0
    assert "Building environment" in log[0] and log[0].endswith("with pip.")
    assert any("-m pip install six" in line for line in log)


def test_failed_build_raises_with_output_and_leaves_nothing_behind(tmp_path):
    cache, spec = EnvironmentCache(tmp_path / "envs"), EnvironmentSpec(pip=["this-package-does-not-exist-amlite==1.0"])
    log = Log()
    with pytest.raises(EnvironmentBuildError) as caught:
        cache.ensure(spec, log)
    error = caught.value
    assert error.code == "EnvironmentBuildFailed"
    assert error.message.startswith("Building the environment failed: uv pip install exited with code 1:")
    assert "this-package-does-not-exist-amlite" in error.output
    assert "this-package-does-not-exist-amlite" in "\n".join(log)
    assert not (tmp_path / "envs" / spec_hash(spec)).exists()

    with pytest.raises(EnvironmentBuildError):  # the next caller tries again
        cache.ensure(spec, log)
    assert log.count("Building environment") == 2


def test_interrupted_build_is_rebuilt(tmp_path):
    env = tmp_path / "envs" / spec_hash(EnvironmentSpec())
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "half-written").write_text("")
    python = EnvironmentCache(tmp_path / "envs").ensure(EnvironmentSpec(), Log())
    assert not (env / "bin" / "half-written").exists() and (env / READY).is_file()
    assert run(python, "print('ok')").stdout.strip() == "ok"


def _ensure_in_child(root: str, pip: list[str], log_path: str) -> None:
    with open(log_path, "a") as handle:
        def log(line: str) -> None:
            handle.write(line + "\n")
            handle.flush()
        python = EnvironmentCache(Path(root)).ensure(EnvironmentSpec(pip=pip), log)
        log(f"RESULT {python}")


def test_concurrent_processes_share_one_build(tmp_path):
    """Two agents want the same environment while it is locked: both wait, one builds."""
    root, spec = tmp_path / "envs", EnvironmentSpec(pip=["six"])
    root.mkdir()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    context = multiprocessing.get_context("spawn")
    with open(root / f"{spec_hash(spec)}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as if a third process were mid-build
        children = [context.Process(target=_ensure_in_child, args=(str(root), spec.pip, str(path))) for path in logs]
        for child in children:
            child.start()
        deadline = time.monotonic() + 60
        while not all(path.exists() and "Waiting for another build" in path.read_text() for path in logs):
            assert time.monotonic() < deadline, "the children never waited on the lock"
            time.sleep(0.05)
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    texts = [path.read_text() for path in logs]
    assert sum(text.count("Building environment") for text in texts) == 1
    assert sum(text.count("Reusing environment") for text in texts) == 1
    results = {line for text in texts for line in text.splitlines() if line.startswith("RESULT ")}
    assert results == {f"RESULT {root / spec_hash(spec) / 'bin' / 'python'}"}


def test_user_managed_interpreter(tmp_path):
    log = Log()
    spec = EnvironmentSpec(user_managed=True, interpreter_path=sys.executable, pip=["six"])
    assert EnvironmentCache(tmp_path / "envs").ensure(spec, log) == Path(sys.executable)
    assert log == [f"Using the user-managed interpreter {sys.executable}."]
    assert not (tmp_path / "envs").exists()  # nothing built

    missing = EnvironmentSpec(user_managed=True, interpreter_path="no-such-python-amlite")
    with pytest.raises(EnvironmentBuildError, match="InterpreterPath 'no-such-python-amlite' is not an executable"):
        EnvironmentCache(tmp_path / "envs").ensure(missing, log)


def test_option_entries_in_the_pip_list_become_installer_arguments():
    assert environments._pip_arguments(["six", "--extra-index-url https://example.org/simple", "--pre"]) == \
        ["six", "--extra-index-url", "https://example.org/simple", "--pre"]
