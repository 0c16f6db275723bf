"""``amlite serve``: migrate, bootstrap on an empty store, then serve HTTP(S) with uvicorn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from amlite.artifacts.blob_hosts import blob_host_pattern
from amlite.bootstrap import CREDENTIALS_FILE, bootstrap
from amlite.cli.options import DatabaseUrl, DataDir, PublicUrl, settings_from
from amlite.server import build_context, create_app
from amlite.tls import ServerEventLoop, ensure_local_tls

STARTUP_FAILURE = 3  # uvicorn's exit code when the server could not start (e.g. the port is taken)


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind [env AMLITE_HOST; default 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [env AMLITE_PORT; default 8000].")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    public_url: PublicUrl = None,
    tls: Annotated[bool | None, typer.Option("--tls", help="Serve https with a local CA made under the data dir [env AMLITE_TLS].")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Certificate file (PEM) [env AMLITE_TLS_CERT].")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Private key file (PEM) [env AMLITE_TLS_KEY].")] = None,
) -> None:
    """Start the server on embedded defaults (SQLite and local disk under the data dir)."""
    settings = settings_from(host=host, port=port, data_dir=data_dir, database_url=database_url,
                             public_url=public_url, tls=tls, tls_cert=tls_cert, tls_key=tls_key)
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
    server = uvicorn.Server(uvicorn.Config(create_app(settings, context), host=settings.host, port=settings.port,
                                           log_level="warning", **ssl_files))
    # What uvicorn.run does, on an event loop that closes TLS connections promptly at shutdown.
    with asyncio.Runner(loop_factory=ServerEventLoop) as runner:
        runner.run(server.serve())
    if not server.started:
        raise typer.Exit(STARTUP_FAILURE)
