"""``amlite serve``: migrate, bootstrap on an empty store, then serve HTTP(S) with uvicorn."""

from __future__ import annotations

import asyncio
import gc
import shutil
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from amlite.artifacts.blob_hosts import blob_host_pattern
from amlite.bootstrap import CREDENTIALS_FILE, bootstrap
from amlite.cli.options import DatabaseUrl, DataDir, PublicUrl, settings_from
from amlite.compute.ray.head import LocalRayNode, find_ray
from amlite.server import build_context, create_app
from amlite.settings import Settings
from amlite.tls import ServerEventLoop, ensure_local_tls

STARTUP_FAILURE = 3  # uvicorn's exit code when the server could not start (e.g. the port is taken)


@contextmanager
def ray_cluster(settings: Settings):
    """With ``ray_local``, a local Ray head for the server's lifetime: the settings then point at it."""
    if not settings.ray_local:
        yield settings
        return
    if settings.ray_address:
        raise typer.BadParameter("--ray-local starts a head of its own: leave out --ray-address")
    try:
        executable = find_ray(settings.ray_executable)
    except FileNotFoundError as error:
        raise typer.BadParameter(str(error)) from error
    temp = Path(tempfile.mkdtemp(prefix="amlite-ray-"))  # short: Ray's socket paths must fit in 107 bytes
    head = LocalRayNode(executable, temp, cpus=settings.ray_local_cpus)
    typer.echo(f"Starting a local Ray head with {executable} (log: {settings.data_dir / 'ray-head.log'}) ...")
    # SIGTERM must reach the finally below: uvicorn handles it while serving, then raises it again
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        head.start(settings.data_dir / "ray-head.log")
        typer.echo(f"Ray: computes run on the local head at {head.address} (stopped with the server)")
        yield settings.model_copy(update={"ray_address": head.address, "ray_token": head.token})
    finally:
        head.stop()
        shutil.rmtree(temp, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind [env AMLITE_HOST; default 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [env AMLITE_PORT; default 8000].")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    public_url: PublicUrl = None,
    tls: Annotated[bool | None, typer.Option("--tls", help="Serve https with a local CA made under the data dir [env AMLITE_TLS].")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Certificate file (PEM) [env AMLITE_TLS_CERT].")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Private key file (PEM) [env AMLITE_TLS_KEY].")] = None,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help=(
        "Run computes on this Ray cluster: its Job API, http://HOST:8265 [env AMLITE_RAY_ADDRESS; "
        "token in AMLITE_RAY_TOKEN]."))] = None,
    ray_local: Annotated[bool | None, typer.Option("--ray-local", help=(
        "Start a local Ray head for the server's lifetime and run computes on it (`ray` on PATH or "
        "AMLITE_RAY_EXECUTABLE) [env AMLITE_RAY_LOCAL]."))] = None,
) -> None:
    """Start the server on embedded defaults (SQLite and local disk under the data dir)."""
    settings = settings_from(host=host, port=port, data_dir=data_dir, database_url=database_url,
                             public_url=public_url, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
                             ray_address=ray_address, ray_local=ray_local)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ssl_files: dict[str, str] = {}
    if settings.tls_cert is not None:
        ssl_files = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    elif settings.tls:
        names = (settings.host,) if settings.host not in ("0.0.0.0", "::") else ()
        if settings.blob_host_suffix:
            names += (blob_host_pattern(settings.blob_host_suffix),)
        files = ensure_local_tls(settings.data_dir, names)
        ssl_files = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
        typer.echo(f"TLS: trust this CA in clients (REQUESTS_CA_BUNDLE={files.ca_cert})")

    with ray_cluster(settings) as settings:
        _serve(settings, ssl_files)


# Python's defaults are (700, 10, 10): a 1,000-point metric batch allocates several thousand objects,
# so each request set off a handful of young collections and, every few requests, a full one over
# every object the server holds. These make a full collection about a thousand times rarer.
COLLECTION_THRESHOLDS = (20_000, 20, 50)


def _tune_garbage_collector() -> None:
    """Keep what start-up made (modules, routes, schemas: most of the server's objects, alive until
    it stops) out of every later collection, and collect young objects less often; without this
    the collector took about a sixth of the server's CPU under metric ingest."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTION_THRESHOLDS)


def _serve(settings: Settings, ssl_files: dict[str, str]) -> None:
    context = build_context(settings)
    credentials = bootstrap(context.db, settings.data_dir, settings.base_url)
    credentials_path = settings.data_dir / CREDENTIALS_FILE
    if credentials is not None:
        typer.echo("First start: created a tenant, a subscription and an Owner service principal (shown once):")
        for key in ("tenantId", "subscriptionId", "clientId", "clientSecret"):
            typer.echo(f"  {key:15} {credentials[key]}")
        typer.echo(f"Saved in {credentials_path} (mode 0600, Azure SDK auth-file format).")
    elif credentials_path.exists():
        typer.echo(f"Credentials: {credentials_path}")
    else:
        typer.echo("Credentials: create a service principal with 'amlite principal create --subscription ID --sdk-auth'.")
    typer.echo(
        f"Get a token: curl -X POST {settings.base_url}/<tenantId>/oauth2/token "
        "-d grant_type=client_credentials -d resource=https://management.azure.com/ "
        "-d client_id=<clientId> --data-urlencode client_secret=<clientSecret>"
    )
    typer.echo(f"amlite listening on {settings.base_url}", color=False)
    app = create_app(settings, context)
    _tune_garbage_collector()
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, http="httptools",
                                           log_level="warning", **ssl_files))
    # What uvicorn.run does, on an event loop that closes TLS connections promptly at shutdown.
    with asyncio.Runner(loop_factory=ServerEventLoop) as runner:
        runner.run(server.serve())
    if not server.started:
        raise typer.Exit(STARTUP_FAILURE)
