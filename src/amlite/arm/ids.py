"""Resource ids as ARM spells them."""

from __future__ import annotations


def subscription_id(subscription: str) -> str:
    return f"/subscriptions/{subscription}"


def resource_group_id(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}"


def provider_id(subscription: str, namespace: str) -> str:
    return f"/subscriptions/{subscription}/providers/{namespace}"
