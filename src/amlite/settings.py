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
