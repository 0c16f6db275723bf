"""One replica of a scoring service: ``<environment python> worker.py <config.json>``.

It runs in the service's environment, which need not have amlite installed, so it uses the standard
library only and is started by its path. It imports the entry script, calls ``init()`` once (with
``AZUREML_MODEL_DIR`` naming the model files, as in Azure ML), then serves HTTP/1.1 on a Unix socket
that only the scoring front reaches: ``POST`` calls ``run(raw_body)`` (with ``request_headers=`` too when
``run`` has that parameter, as Azure's inference server does: azureml-core's generated ``main.py`` needs
it) and answers its result as JSON, ``GET`` answers that the replica is healthy. Requests are handled one
at a time, in arrival order.

Exit codes: 3 when the entry script cannot be loaded, has no ``run()`` or fails in ``init()`` (the
traceback is on stderr, which the supervisor keeps as the replica's log); 137 when the replica's
memory passes the service's ``memoryInGB``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import signal
import sys
import threading
import time
import traceback

ENTRY_SCRIPT_FAILED = 3
OUT_OF_MEMORY = 137
MEMORY_CHECK_SECONDS = 0.25
JSON_HEADERS = b"Content-Type: application/json\r\n"
TEXT_HEADERS = b"Content-Type: text/plain; charset=utf-8\r\n"
REASONS = {200: b"OK", 400: b"Bad Request", 500: b"Internal Server Error"}


def _json_default(value):
    """numpy arrays and scalars (and anything else with ``tolist``) become JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def response(status: int, headers: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s" % (status, REASONS[status], headers, len(body), body)


def wants_headers(run) -> bool:
    try:
        return "request_headers" in inspect.signature(run).parameters
    except (TypeError, ValueError):
        return False


class Scorer:
    def __init__(self, run) -> None:
        self.run = run
        self.wants_headers = wants_headers(run)

    def handle(self, method: bytes, lines: list[bytes], body: bytes) -> bytes:
        if method != b"POST":
            return response(200, TEXT_HEADERS, b"Healthy")
        try:
            text = body.decode("utf-8")
            json.loads(text)
        except ValueError as error:
            return response(400, TEXT_HEADERS, f"The request body is not valid JSON: {error}".encode())
        try:
            if self.wants_headers:
                pairs = (line.decode("latin-1").partition(":") for line in lines[1:])
                result = self.run(text, request_headers={name.strip(): value.strip() for name, _, value in pairs})
            else:
                result = self.run(text)
        except Exception as error:
            traceback.print_exc()
            message = f"{type(error).__name__}: {error}".encode()
            return response(500, TEXT_HEADERS + b"X-Ms-Run-Function-Failed: True\r\n", message)
        try:
            return response(200, JSON_HEADERS, json.dumps(result, default=_json_default).encode())
        except (TypeError, ValueError) as error:
            return response(500, TEXT_HEADERS, f"run() returned a value that is not JSON: {error}".encode())


class Connection(asyncio.Protocol):
    """HTTP/1.1 from the front: a request line, headers with Content-Length, a body; kept alive."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.buffer = bytearray()
        self.transport = None
        # (head lines, where the body starts, where it ends) of the request being read: parsed once,
        # however many chunks its body comes in
        self.head: tuple[list[bytes], int, int] | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while self.head is not None or self.read_head():
            lines, start, total = self.head
            if len(buffer) < total:
                return
            body = bytes(buffer[start:total])
            del buffer[:total]
            self.head = None
            self.transport.write(self.scorer.handle(lines[0].split(b" ", 1)[0], lines, body))

    def read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.head = (lines, end + 4, end + 4 + length)
        return True


def load_entry_script(path: str):
    name = os.path.splitext(os.path.basename(path))[0]
    if name in sys.modules:
        name = "amlite_entry_script"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def fail(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()
    sys.exit(ENTRY_SCRIPT_FAILED)


def watch_memory(limit: int) -> None:
    """Ends the replica when its resident memory passes ``limit`` bytes, as a container's limit would."""
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1]) * page
        if resident > limit:
            sys.stderr.write(f"The replica used {resident / 2**30:.2f} GB of memory, more than the service's "
                             f"memoryInGB ({limit / 2**30:.2f} GB); it was stopped.\n")
            sys.stderr.flush()
            os._exit(OUT_OF_MEMORY)
        time.sleep(MEMORY_CHECK_SECONDS)


def serve(scorer: Scorer, config: dict) -> None:
    loop = asyncio.new_event_loop()
    here = os.getcwd()
    os.chdir(config["socketDir"])  # a relative name keeps the socket path short whatever the data dir
    try:
        server = loop.run_until_complete(loop.create_unix_server(lambda: Connection(scorer), config["socket"]))
    finally:
        os.chdir(here)
    ready = config["readyFile"]
    with open(ready + ".tmp", "w") as handle:
        json.dump({"socket": config["socket"], "pid": os.getpid()}, handle)
    os.replace(ready + ".tmp", ready)
    print(f"Replica ready: serving {os.path.basename(config['entryScript'])}.", flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)  # after the request in hand
    loop.run_forever()
    server.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # threads the entry script started do not hold the replica up


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, config["appDir"])
    if config.get("cpus"):
        os.sched_setaffinity(0, config["cpus"])
    if config.get("memoryLimitBytes"):
        threading.Thread(target=watch_memory, args=(config["memoryLimitBytes"],), daemon=True).start()
    script = config["entryScript"]
    try:
        module = load_entry_script(script)
    except BaseException:
        fail(f"The entry script {os.path.basename(script)} failed to load:\n{traceback.format_exc()}")
    run = getattr(module, "run", None)
    if not callable(run):
        fail(f"The entry script {os.path.basename(script)} defines no run() function: a scoring entry script "
             "defines init() and run(raw_data).")
    init = getattr(module, "init", None)
    if callable(init):
        try:
            init()
        except BaseException:
            fail(f"init() of the entry script {os.path.basename(script)} raised:\n{traceback.format_exc()}")
    serve(Scorer(run), config)


if __name__ == "__main__":
    main()
