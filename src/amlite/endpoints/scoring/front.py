"""The scoring front: one process that serves every service's scoringUri, apart from the management API.

``python -m amlite.endpoints.scoring.front <state-dir> <host> <port>``, started (and restarted) by the
supervisor in its own session, so that scoring goes on while the API server restarts.

For each request to ``/api/v1/service/{id}/score`` it checks ``Authorization: Bearer {key}`` against
the hashes of the service's two keys (in constant time), hands the request to the replica with the
fewest requests in flight (over a kept-alive Unix-socket connection) and relays the answer. Every
request is recorded (time, duration, status, replica) in the service's request log, the workspace's
Application Insights component's log. ``GET`` on the scoringUri is the health probe, answered by a
replica; ``.../swagger.json`` describes the service.

What to serve comes from ``routes.json`` in the state dir, written by the supervisor, which then asks
the front to reload it over a loopback control connection (``AMLITE_FRONT_SECRET`` authenticates it):
a key changed there stops working as soon as the reload is answered. A replica that is no longer
routed keeps the requests it has until they are answered (``drain``), so replacing replicas drops none.

Standard library only (asyncio protocols and callbacks: this is the hot path).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import os
import signal
import sys
import time
from collections import deque
from pathlib import Path

PREFIX = b"/api/v1/service/"
MAX_HEAD = 64 << 10
MAX_BODY = 100 << 20
DEPTH = 8  # requests in flight per replica; more wait in the front, for the first replica that frees up
LOG_FLUSH_SECONDS = 0.5
REASONS = {100: b"Continue", 200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found",
           405: b"Method Not Allowed", 411: b"Length Required", 413: b"Payload Too Large",
           431: b"Request Header Fields Too Large", 500: b"Internal Server Error", 502: b"Bad Gateway",
           503: b"Service Unavailable"}
TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
# Not passed on to replicas (the key stays here; the rest is this hop's business).
NOT_FORWARDED = frozenset((b"authorization", b"proxy-authorization", b"connection", b"keep-alive", b"content-length",
                           b"transfer-encoding", b"expect", b"te", b"upgrade"))


class Replica:
    __slots__ = ("socket", "route", "idle", "inflight", "down", "retired")

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.route: Route | None = None
        self.idle: list[Upstream] = []
        self.inflight = 0
        self.down = False  # it refused a connection or dropped one: not used until routed again
        self.retired = False  # no longer routed: it finishes what it has


class Route:
    """One service as routes.json describes it."""

    def __init__(self, service_id: str, document: dict, replicas: dict[str, Replica]) -> None:
        self.service_id = service_id
        self.name = document["name"]
        self.auth = bool(document["auth"])
        self.keys = [bytes.fromhex(key) for key in document["keys"]]
        self.log = document["log"]
        self.swagger = json.dumps(document["swagger"]).encode()
        self.replicas = []
        for socket in document["replicas"]:
            replica = replicas.get(socket) or Replica(socket)
            replica.route, replica.retired, replica.down = self, False, False
            self.replicas.append(replica)
        self.waiting: deque[Exchange] = deque()

    def authorized(self, header: bytes | None) -> bool:
        if not self.auth:
            return True
        if header is None or header[:7].lower() != b"bearer ":
            return False
        digest = hashlib.sha256(header[7:].strip()).digest()
        found = False
        for key in self.keys:  # every key compared, whichever matches
            found |= hmac.compare_digest(digest, key)
        return found

    def pick(self, tried: set | None = None) -> Replica | None:
        """The replica with the fewest requests in flight; on a tie the first (a replica that was just busy
        answers faster than one that has to be woken: at one request at a time, one replica serves)."""
        best = None
        for replica in self.replicas:
            if replica.down or replica.inflight >= DEPTH or (tried and replica in tried):
                continue
            if best is None or replica.inflight < best.inflight:
                best = replica
        return best

    def live(self) -> bool:
        return any(not replica.down for replica in self.replicas)


class Exchange:
    """One request on its way to a replica and back."""

    __slots__ = ("client", "route", "method", "payload", "tried")

    def __init__(self, client: Client, route: Route, method: bytes, forwarded: bytes, body: bytes) -> None:
        self.client, self.route, self.method = client, route, method
        self.payload = b"%s / HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (method, forwarded, len(body), body)
        self.tried: set[Replica] | None = None


class Upstream(asyncio.Protocol):
    """A kept-alive connection to one replica, carrying one request at a time."""

    def __init__(self, front: Front, replica: Replica) -> None:
        self.front, self.replica = front, replica
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.exchange: Exchange | None = None
        # (status, content type, x-ms- header lines, where the body starts, where it ends) of the answer
        # being read: its head is parsed once, however many chunks its body comes in
        self.head: tuple[int, bytes, bytes, int, int] | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.transport.write(exchange.payload)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.head is None and not self.read_head():
            return
        status, content_type, extra, start, total = self.head
        if len(buffer) < total:
            return
        body = bytes(buffer[start:total])
        del buffer[:total]
        self.head = None
        exchange, self.exchange = self.exchange, None
        self.front.answered(self, exchange, status, content_type, body, extra)

    def read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        length, content_type, extra = 0, TEXT, b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"content-type":
                content_type = value.strip()
            elif name.startswith(b"x-ms-"):
                extra += line + b"\r\n"
        self.head = (int(lines[0].split(b" ", 2)[1]), content_type, extra, end + 4, end + 4 + length)
        return True

    def connection_lost(self, exc) -> None:
        replica = self.replica
        if self in replica.idle:
            replica.idle.remove(self)
        exchange, self.exchange = self.exchange, None
        if exchange is not None:  # the replica went away with the request
            self.front.release(replica)
            replica.down = True
            exchange.client.respond(exchange.route, 502, TEXT, b"The replica serving the request stopped before "
                                    b"answering; it is being restarted.", replica=replica)
            self.front.wake(exchange.route)


class Client(asyncio.Protocol):
    """One client connection: requests are answered in order (pipelined ones wait their turn)."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        # (method, path, headers, forwarded header lines, keep-alive, length) of the request being read
        self.head: tuple | None = None
        self.busy = False
        self.looping = False
        self.closed = False
        self.keep_alive = True
        self.continued = False
        self.started = 0.0
        self.method = b""
        self.action = b"score"

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.process()

    def process(self) -> None:
        self.looping = True
        try:
            while not self.busy and not self.closed:
                if self.head is None and not self.read_head():
                    return
                method, path, headers, forwarded, keep_alive, length = self.head
                if len(self.buffer) < length:
                    if not self.continued and headers.get(b"expect", b"").lower() == b"100-continue":
                        self.continued = True
                        self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    return
                body = bytes(self.buffer[:length])
                del self.buffer[:length]
                self.head, self.continued, self.busy = None, False, True
                self.keep_alive = keep_alive
                self.started, self.method = time.perf_counter(), method
                self.front.handle(self, method, path, headers, forwarded, body)
        finally:
            self.looping = False

    def read_head(self) -> bool:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self.fail(431, b"The request head is too large.")
            return False
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[:end + 4]
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self.fail(400, b"Malformed request line.")
            return False
        headers, forwarded = {}, b""
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                self.fail(400, b"Malformed header line.")
                return False
            name = name.strip().lower()
            headers[name] = value.strip()
            if name not in NOT_FORWARDED:
                forwarded += line + b"\r\n"
        connection = headers.get(b"connection", b"").lower()
        keep_alive = connection != b"close" if parts[2] == b"HTTP/1.1" else connection == b"keep-alive"
        if b"transfer-encoding" in headers:
            self.fail(411, b"Send the body with a Content-Length.")
            return False
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.fail(413 if length > MAX_BODY else 400, b"Bad Content-Length.")
            return False
        self.head = (parts[0], parts[1].split(b"?", 1)[0], headers, forwarded, keep_alive, length)
        return True

    def fail(self, status: int, message: bytes) -> None:
        self.keep_alive = False
        self.busy = True
        self.started, self.method = time.perf_counter(), b""
        self.respond(None, status, TEXT, message)

    def respond(self, route: Route | None, status: int, content_type: bytes, body: bytes, extra: bytes = b"",
                replica: Replica | None = None) -> None:
        if not self.closed:
            closing = b"" if self.keep_alive else b"Connection: close\r\n"
            self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n%s" % (
                status, REASONS.get(status, b"Unknown"), content_type, len(body), extra, closing, body))
            if not self.keep_alive:
                self.transport.close()
                self.closed = True
        if route is not None:
            self.front.log.record(route, b"%s /%s" % (self.method, self.action), status,
                                  time.perf_counter() - self.started, replica)
        self.busy = False
        if not self.looping and self.buffer and not self.closed:
            self.process()


class RequestLog:
    """Request records, appended to each service's log file every half second (JSON lines)."""

    def __init__(self) -> None:
        self.pending: dict[str, list[tuple]] = {}

    def record(self, route: Route, request: bytes, status: int, seconds: float, replica: Replica | None) -> None:
        records = self.pending.get(route.log)
        if records is None:
            records = self.pending[route.log] = []
        records.append((time.time(), route.name, request, status, seconds, replica.socket if replica else None))

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for path, records in pending.items():
            lines = [json.dumps({
                "time": datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat(timespec="milliseconds"),
                "service": name, "name": request.decode(errors="replace"),
                "resultCode": status, "success": status < 400, "durationMs": round(seconds * 1000, 3),
                "replica": replica}) + "\n" for when, name, request, status, seconds, replica in records]
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as handle:
                    handle.writelines(lines)
            except OSError as error:
                print(f"could not write the request log {path}: {error}", file=sys.stderr, flush=True)


class Front:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.routes: dict[bytes, Route] = {}
        self.replicas: dict[str, Replica] = {}
        self.retiring: dict[str, Replica] = {}  # no longer routed, still answering requests
        self.log = RequestLog()
        self.loop = asyncio.get_running_loop()

    # --- routes -------------------------------------------------------------------------------

    def reload(self) -> None:
        path = self.state_dir / "routes.json"
        document = json.loads(path.read_text()) if path.exists() else {"services": {}}
        old = self.replicas
        routes = {service_id.encode(): Route(service_id, route, old)
                  for service_id, route in document["services"].items()}
        self.replicas = {replica.socket: replica for route in routes.values() for replica in route.replicas}
        for socket, replica in old.items():
            if socket not in self.replicas:
                replica.retired = True
                self._close_idle(replica)
                if replica.inflight:
                    self.retiring[socket] = replica
        for service_id, route in self.routes.items():  # requests waiting for a replica follow the service
            if service_id in routes:
                routes[service_id].waiting.extend(route.waiting)
            else:
                for exchange in route.waiting:
                    exchange.client.respond(route, 404, TEXT, b"The service was deleted.")
        self.routes = routes
        for route in routes.values():
            self.wake(route)

    @staticmethod
    def _close_idle(replica: Replica) -> None:
        for upstream in replica.idle:
            upstream.transport.close()
        replica.idle.clear()

    async def drain(self, sockets: list[str], timeout: float) -> bool:
        """Wait until the named replicas have answered what they were given (they are no longer routed)."""
        deadline = time.monotonic() + timeout
        while any(socket in self.retiring for socket in sockets):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    # --- requests -----------------------------------------------------------------------------

    def handle(self, client: Client, method: bytes, path: bytes, headers: dict, forwarded: bytes, body: bytes) -> None:
        service_id, _, action = path[len(PREFIX):].partition(b"/") if path.startswith(PREFIX) else (b"", b"", b"")
        route = self.routes.get(service_id)
        client.action = action
        if route is None or action not in (b"score", b"swagger.json"):
            client.respond(None, 404, TEXT, b"No service is deployed at this URL.")
        elif action == b"swagger.json":
            client.respond(route, 200, JSON, route.swagger)
        elif method not in (b"POST", b"GET"):
            client.respond(route, 405, TEXT, b"Use POST to score, GET to probe health.", b"Allow: GET, POST\r\n")
        elif method == b"POST" and not route.authorized(headers.get(b"authorization")):
            client.respond(route, 401, TEXT, b"Authorization: Bearer <key> with one of the service's keys is "
                                             b"required.", b"WWW-Authenticate: Bearer\r\n")
        else:
            self.forward(Exchange(client, route, method, forwarded, body))

    def forward(self, exchange: Exchange) -> None:
        route = exchange.route
        replica = route.pick(exchange.tried)
        if replica is None:
            if route.live() and any(r.inflight >= DEPTH for r in route.replicas if not r.down):
                route.waiting.append(exchange)
            else:
                exchange.client.respond(route, 503, TEXT, b"The service has no healthy replica right now.")
            return
        replica.inflight += 1
        if replica.idle:
            replica.idle.pop().send(exchange)
        else:
            self.loop.create_task(self._connect(replica, exchange))

    async def _connect(self, replica: Replica, exchange: Exchange) -> None:
        try:
            _transport, upstream = await self.loop.create_unix_connection(lambda: Upstream(self, replica),
                                                                          replica.socket)
        except OSError:  # the replica is gone: try another one
            self.release(replica)
            replica.down = True
            exchange.tried = (exchange.tried or set()) | {replica}
            self.forward(exchange)
            return
        upstream.send(exchange)

    def answered(self, upstream: Upstream, exchange: Exchange, status: int, content_type: bytes, body: bytes,
                 extra: bytes) -> None:
        replica = upstream.replica
        self.release(replica)
        if replica.retired or replica.down:
            upstream.transport.close()
        else:
            replica.idle.append(upstream)
        exchange.client.respond(exchange.route, status, content_type, body, extra, replica)
        self.wake(exchange.route)

    def release(self, replica: Replica) -> None:
        replica.inflight -= 1
        if not replica.inflight:
            self.retiring.pop(replica.socket, None)

    def wake(self, route: Route) -> None:
        while route.waiting:
            if route.pick(route.waiting[0].tried) is None:
                if not route.live():
                    exchange = route.waiting.popleft()
                    exchange.client.respond(route, 503, TEXT, b"The service has no healthy replica right now.")
                    continue
                return
            self.forward(route.waiting.popleft())

    # --- control ------------------------------------------------------------------------------

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One JSON line per command: {"secret", "op": "reload" | "drain" (with "sockets", "timeout")}."""
        secret = os.environ.get("AMLITE_FRONT_SECRET", "").encode()
        try:
            while line := await reader.readline():
                command = json.loads(line)
                if not hmac.compare_digest(str(command.get("secret", "")).encode(), secret):
                    writer.write(b'{"ok": false, "error": "forbidden"}\n')
                    break
                if command["op"] == "reload":
                    self.reload()
                    answer = {"ok": True}
                elif command["op"] == "drain":
                    answer = {"ok": await self.drain(command["sockets"], command.get("timeout", 30))}
                else:
                    answer = {"ok": False, "error": f"unknown op {command['op']!r}"}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ValueError, KeyError, ConnectionError) as error:
            print(f"control connection: {error!r}", file=sys.stderr, flush=True)
        finally:
            writer.close()

    def flush_logs(self) -> None:
        self.log.flush()
        self.loop.call_later(LOG_FLUSH_SECONDS, self.flush_logs)


async def main(state_dir: Path, host: str, port: int) -> None:
    front = Front(state_dir)
    front.reload()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(front), host, port, reuse_address=True, backlog=1024)
    control = await asyncio.start_server(front.control, "127.0.0.1", 0)
    ready = state_dir / "control.json"
    ready.with_suffix(".tmp").write_text(json.dumps({"port": control.sockets[0].getsockname()[1],
                                                     "pid": os.getpid()}))
    ready.with_suffix(".tmp").replace(ready)
    print(f"scoring front listening on {host}:{port}", flush=True)
    front.flush_logs()
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    server.close()
    control.close()
    front.log.flush()


if __name__ == "__main__":
    STATE = Path(sys.argv[1]).resolve()
    os.chdir(STATE / "w")  # the workers' sockets are named relative to it
    asyncio.run(main(STATE, sys.argv[2], int(sys.argv[3])))
