"""ARM path semantics in front of the router: case-insensitive literal segments, optional trailing slash.

azure-mgmt-resource sends ``resourcegroups`` where the docs write ``resourceGroups``, and the REST
how-to lists workspaces with a trailing slash. Before routing, each request path is walked through a
trie of the route templates; literal segments are rewritten to the template's spelling, while
parameter segments (user-chosen names) are left exactly as sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send


class _Node:
    __slots__ = ("literals", "param", "rest", "terminal")

    def __init__(self) -> None:
        self.literals: dict[str, tuple[str, _Node]] = {}
        self.param: _Node | None = None
        self.rest = False  # a ``{name:path}`` parameter here swallows the remaining segments
        self.terminal = False


class PathCanonicalizer:
    def __init__(self, templates: Iterable[str]) -> None:
        self.root = _Node()
        for template in templates:
            self._add(template)

    def _add(self, template: str) -> None:
        node = self.root
        for segment in template.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith(":path}"):
                node.rest = True
                return
            if segment.startswith("{") and segment.endswith("}"):
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literals.setdefault(segment.lower(), (segment, _Node()))[1]
        node.terminal = True

    def canonical(self, path: str) -> str | None:
        """The path with literal segments spelled as the routes spell them; None when no route fits."""
        segments = path.strip("/").split("/")
        found = self._walk(self.root, segments, 0)
        return None if found is None else "/" + "/".join(found)

    def _walk(self, node: _Node, segments: list[str], index: int) -> list[str] | None:
        if index == len(segments):
            return [] if node.terminal else None
        segment = segments[index]
        literal = node.literals.get(segment.lower())
        if literal is not None:
            rest = self._walk(literal[1], segments, index + 1)
            if rest is not None:
                return [literal[0], *rest]
        if node.param is not None and segment:
            rest = self._walk(node.param, segments, index + 1)
            if rest is not None:
                return [segment, *rest]
        if node.rest:
            return segments[index:]
        return None


class CanonicalPathMiddleware:
    def __init__(self, app: ASGIApp, canonicalizer: PathCanonicalizer) -> None:
        self.app = app
        self.canonicalizer = canonicalizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/":
            canonical = self.canonicalizer.canonical(scope["path"])
            if canonical is not None and canonical != scope["path"]:
                scope = {**scope, "path": canonical}
        await self.app(scope, receive, send)
