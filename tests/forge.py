"""Tokens the token service would never hand out (expired, wrong audience), signed with the server's key.

Tests use them to check that the API refuses them; the key is read from the server's own store.
"""

from __future__ import annotations

import jwt

from amlite.db.engine import Database
from amlite.identity.keys import KeyRing
from amlite.identity.tokens import TokenService
from tests.server import Server


def forge_token(server: Server, *, lifetime: int = 3599, audience: str = "https://management.azure.com/") -> str:
    db = Database(server.backend.database_url or f"sqlite:///{server.data_dir / 'amlite.db'}")
    try:
        with db.session() as session:
            keyring = KeyRing.load(session)
    finally:
        db.dispose()
    genuine = jwt.decode(server.token(), options={"verify_signature": False})
    tokens = TokenService(keyring, server.base_url, lifetime, clock_skew=300)
    return tokens.issue(tenant_id=genuine["tid"], object_id=genuine["oid"], app_id=genuine["appid"],
                        audience=audience, version="1.0").access_token
