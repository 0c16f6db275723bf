"""The persisted RSA signing keys behind every access token, and their public JWKS form."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.identity.tables import SigningKey


class KeyRing:
    """The active signing keys, loaded once from the store (created on first use)."""

    def __init__(self, keys: dict[str, rsa.RSAPrivateKey], signing_kid: str) -> None:
        self.keys = keys
        self.signing_kid = signing_kid

    @classmethod
    def load(cls, session: Session) -> KeyRing:
        rows = session.scalars(
            select(SigningKey).where(SigningKey.active.is_(True)).order_by(SigningKey.created_at)
        ).all()
        if not rows:
            rows = [_create_key(session)]
        keys = {
            row.kid: serialization.load_pem_private_key(row.private_pem.encode(), password=None)
            for row in rows
        }
        return cls(keys, rows[-1].kid)

    @property
    def signing_key(self) -> rsa.RSAPrivateKey:
        return self.keys[self.signing_kid]

    def public_key(self, kid: str):
        key = self.keys.get(kid)
        return key.public_key() if key is not None else None

    def jwks(self) -> dict:
        entries = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256", "x5t": kid})
            entries.append(jwk)
        return {"keys": entries}


def _create_key(session: Session) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.urlsafe_b64encode(hashlib.sha1(public_der).digest()).rstrip(b"=").decode()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    row = SigningKey(kid=kid, private_pem=pem, active=True)
    session.add(row)
    session.flush()
    return row
