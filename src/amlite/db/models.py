"""Imports every service area's tables so that ``metadata`` describes the whole schema."""

from amlite.arm import tables as _arm_tables  # noqa: F401
from amlite.artifacts import tables as _artifact_tables  # noqa: F401
from amlite.content import tables as _content_tables  # noqa: F401
from amlite.datastores import tables as _datastore_tables  # noqa: F401
from amlite.db.base import Base
from amlite.endpoints import tables as _endpoint_tables  # noqa: F401
from amlite.hyperdrive import tables as _hyperdrive_tables  # noqa: F401
from amlite.identity import tables as _identity_tables  # noqa: F401
from amlite.registry import tables as _registry_tables  # noqa: F401
from amlite.runs import tables as _run_tables  # noqa: F401
from amlite.workspaces import tables as _workspace_tables  # noqa: F401

metadata = Base.metadata
