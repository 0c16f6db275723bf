"""One settings object for the server and the CLI (environment variables prefixed ``AMLITE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AMLITE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".amlite")
    database_url: str | None = None
    public_url: str | None = None
    tls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token_lifetime_seconds: int = 3599
    token_clock_skew_seconds: int = 300
    page_size: int = 100
    secret_key: str | None = None
    # run history
    run_heartbeat_timeout_seconds: int = 120
    watchdog_interval_seconds: float = 5.0
    metric_batch_max_points: int = 10000
    run_log_max_bytes: int = 1 << 30
    # execution
    scheduler_interval_seconds: float = 0.5
    snapshot_max_files: int = 10000
    snapshot_max_bytes: int = 300 << 20
    # hyperdrive: how often running sweeps are advanced (children generated, policies applied)
    hyperdrive_interval_seconds: float = 0.5
    # artifacts: where the bytes go (file:// under the data dir by default, or azureblob://...)
    artifact_store: str | None = None
    artifact_store_key: str | None = None
    artifact_upload_max_bytes: int = 5 << 30
    artifact_link_seconds: int = 3600
    # links as https://{account}.blob.{suffix}:{port}/..., the form the Azure ML SDK needs (see artifacts/blob_hosts.py)
    blob_host_suffix: str | None = None
    # Ray (compute/backends/ray.py): the Job API of a cluster (its dashboard, http://HOST:8265) and its auth
    # token; with an address every compute runs on Ray unless its "amlite": {"backend": "local"} says otherwise
    ray_address: str | None = None
    ray_token: str | None = None
    # `amlite serve --ray-local`: start (and stop) a local head, with this `ray` CLI (default: `ray` on PATH)
    ray_local: bool = False
    ray_executable: str | None = None
    ray_local_cpus: int | None = None  # the local head's CPUs (default: Ray's, all of the machine's)
    # on Ray nodes: the interpreter that runs the agent (its version is the server's), and where run
    # environments are cached
    ray_python: str = "python"
    ray_env_cache: str = "~/.cache/amlite/envs"
    # a cluster that does not answer for this long has lost its runs
    ray_unreachable_seconds: float = 30.0
    # Ray's stop waits this long after SIGTERM before SIGKILL (RAY_JOB_STOP_WAIT_TIME_S)
    ray_stop_grace_seconds: int = 60
    # scoring services (endpoints/): the scoring front's address (port: chosen once and kept when unset),
    # the scoringUri base clients are given, how often replicas are watched, how long a deployment may take
    scoring_host: str | None = None
    scoring_port: int | None = None
    scoring_public_url: str | None = None
    scoring_supervisor_interval_seconds: float = 0.5
    service_start_timeout_seconds: float = 900.0

    @property
    def tls_enabled(self) -> bool:
        return self.tls or self.tls_cert is not None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'amlite.db').as_posix()}"

    @property
    def base_url(self) -> str:
        """The URL clients reach the server at; every link amlite hands out starts with it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_enabled else "http"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"
