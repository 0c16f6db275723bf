"""Imported at start-up by every Python process of a run: the agent puts this folder on PYTHONPATH.

The Azure ML SDK rebuilds artifact upload links as ``https://{account}.blob.{suffix}`` (see
amlite/artifacts/blob_hosts.py); inside a run those names resolve to the amlite server, the way a
private DNS zone resolves ``*.blob.core.windows.net`` to a private endpoint in Azure.
"""

import os
import socket

_SUFFIX = os.environ.get("AMLITE_BLOB_HOST_SUFFIX", "").lower()
_ADDRESS = os.environ.get("AMLITE_BLOB_HOST_ADDRESS", "")

if _SUFFIX and _ADDRESS:
    _resolve = socket.getaddrinfo

    def _getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if isinstance(host, str) and host.lower().endswith(".blob." + _SUFFIX):
            host = _ADDRESS
        return _resolve(host, *args, **kwargs)

    socket.getaddrinfo = _getaddrinfo
