"""The workspace a data-plane call addresses, resolved and authorized once per request."""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from sqlalchemy.orm import Session

from amlite.arm.service import get_subscription
from amlite.arm.tables import Resource
from amlite.errors import Conflict
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.deps import DB
from amlite.workspaces.schemas import WORKSPACES
from amlite.workspaces.service import get_workspace

WORKSPACE_PATH = ("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
                  "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}")


def resolve_workspace(session: Session, authz: Authorizer, subscription_id: str, resource_group: str,
                      workspace_name: str, action: str) -> Resource:
    subscription = get_subscription(session, authz, subscription_id)
    authz.check(f"{WORKSPACES}/{action}", f"/subscriptions/{subscription.id}/resourceGroups/{resource_group}"
                                          f"/providers/{WORKSPACES}/{workspace_name}")
    workspace = get_workspace(session, subscription.id, resource_group, workspace_name)
    if workspace.provisioning_state != "Succeeded":
        raise Conflict(f"Workspace '{workspace.name}' is {workspace.provisioning_state}, not ready for use.",
                       code="WorkspaceNotReady")
    return workspace


def in_workspace(action: str) -> Any:
    """A route dependency giving the addressed workspace, once the caller may do ``action`` in it."""

    def dependency(subscriptionId: str, resourceGroupName: str, workspaceName: str,
                   authz: Authorizer = Depends(authenticate), session: Session = DB) -> Resource:
        return resolve_workspace(session, authz, subscriptionId, resourceGroupName, workspaceName, action)

    return Depends(dependency)
