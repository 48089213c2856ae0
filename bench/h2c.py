"""A raw HTTP/2 client (the h2 library), for the calls no gRPC library sends: a unary call with no
message, a header grpc's own client would refuse to send (bytes that are not UTF-8), a message
flagged compressed with no encoding, many thousands of calls on one connection. Cleartext (h2c)
to Envoy, as the soak (bench/soak.py) and the gateway's tests (tests/e2e) speak to it; mutual TLS
to a service, as tests/integration do.

Loopback only: a connection may start from another loopback address (127.0.0.2...) so that the
gateway sees several clients, as its per-address limits count them.
"""

from __future__ import annotations

import collections
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from devstack.loopback import require_loopback
from services.runtime.tls import TlsFiles

LARGEST_WINDOW = 2**31 - 1


def grpc_frame(message: bytes, compressed: bool = False) -> bytes:
    """A gRPC length-prefixed message: the compressed flag, the length, the bytes."""
    return bytes([1 if compressed else 0]) + len(message).to_bytes(4, "big") + message


@dataclass
class Answer:
    """What came back on one stream: its headers and trailers together, its body, or its reset."""

    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    reset: int | None = None  # the RST_STREAM error code, when the stream was reset
    ended: bool = False

    @property
    def status(self) -> int | None:
        return int(self.headers[":status"]) if ":status" in self.headers else None

    @property
    def grpc_status(self) -> int | None:
        return int(self.headers["grpc-status"]) if "grpc-status" in self.headers else None

    @property
    def grpc_message(self) -> str:
        return unquote(self.headers.get("grpc-message", ""))


def _tls_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=files.ca.decode())
    with tempfile.TemporaryDirectory() as folder:  # ssl loads a key pair from files only
        cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert.write_bytes(files.cert)
        key.write_bytes(files.key)
        context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    return context


class H2cConnection:
    """One HTTP/2 connection to a loopback address: h2c (prior knowledge), or mutual TLS as the
    holder of `tls`. Streams are sent without waiting, and `answers` reads until each has ended or
    `timeout` has passed; `calls` sends many calls and counts how they ended."""

    def __init__(self, address: str, source: str | None = None, timeout: float = 5.0, tls: TlsFiles | None = None):
        host, _, port = address.rpartition(":")
        require_loopback(address)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if tls is not None:
            self.sock = _tls_context(tls).wrap_socket(self.sock, server_hostname=host)
        self.scheme = "https" if tls is not None else "http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False))
        self.conn.initiate_connection()
        # Windows as large as they go: flow control is not what these calls are about.
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: LARGEST_WINDOW})
        self.conn.increment_flow_control_window(LARGEST_WINDOW - self.conn.inbound_flow_control_window)
        self.sock.sendall(self.conn.data_to_send())
        self.streams: dict[int, Answer] = {}
        self.closed = False

    def call(self, path: str, headers: list[tuple[str, str]] = (), body: bytes | None = None,
             content_type: str = "application/grpc", method: str = "POST", te: str | None = "trailers") -> int:
        """Sends a request; body None ends the stream with its headers (a call with no message);
        te None sends no `te` header (which gRPC requires)."""
        stream = self.conn.get_next_available_stream_id()
        self.streams[stream] = Answer()
        self.conn.send_headers(stream, [(":method", method), (":scheme", self.scheme), (":authority", "recordstore"),
                                        (":path", path), ("content-type", content_type),
                                        *([("te", te)] if te is not None else []), *headers], end_stream=body is None)
        self.sock.sendall(self.conn.data_to_send())
        if body is not None:
            self._send_body(stream, body)
        return stream

    def _send_body(self, stream: int, body: bytes) -> None:
        at = 0
        while True:
            window = min(self.conn.local_flow_control_window(stream), self.conn.max_outbound_frame_size)
            if window <= 0:  # wait for the peer to open the window (or answer, or reset)
                if not self._read_once() or self.streams[stream].ended:
                    return
                continue
            chunk = body[at:at + window]
            at += len(chunk)
            self.conn.send_data(stream, chunk, end_stream=at >= len(body))
            self.sock.sendall(self.conn.data_to_send())
            if at >= len(body):
                return

    def _read_once(self) -> bool:
        """Reads what the socket has; False once the connection is gone."""
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            return True
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return False
        for event in events:
            answer = self.streams.get(getattr(event, "stream_id", 0))
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)) and answer:
                answer.headers.update((k.decode(), v.decode()) for k, v in event.headers)
            elif isinstance(event, h2.events.DataReceived) and answer:
                answer.data += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and answer:
                answer.ended = True
            elif isinstance(event, h2.events.StreamReset) and answer:
                answer.reset, answer.ended = int(event.error_code), True
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.closed = True
        pending = self.conn.data_to_send()
        if pending:
            try:
                self.sock.sendall(pending)
            except OSError:
                self.closed = True
        return not self.closed

    def answers(self, timeout: float) -> dict[int, Answer]:
        """Every stream's answer once all ended, the connection went, or `timeout` passed."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while not all(a.ended for a in self.streams.values()) and time.monotonic() < deadline:
            if not self._read_once():
                break
        return self.streams

    def calls(self, path: str, count: int, messages: tuple[bytes, ...] = (), half_close: bool = True,
              at_once: int = 200, metadata: tuple[tuple[bytes, bytes], ...] = ()) -> collections.Counter:
        """Sends `count` gRPC calls of `path`, at most `at_once` open together, each with `metadata`
        (any bytes) and `messages` (none: a call without its message) and, if `half_close`,
        END_STREAM after them. Returns how many calls ended with each grpc-status ("reset": reset
        without one). Every call is waited for: one never answered holds this until the socket's
        timeout. The answers are not kept (each call costs this client as little as it can)."""
        headers = [(b":method", b"POST"), (b":scheme", self.scheme.encode()), (b":path", path.encode()),
                   (b":authority", b"recordstore"), (b"content-type", b"application/grpc"), (b"te", b"trailers"),
                   *metadata]
        bodies = [grpc_frame(message) for message in messages]
        outcomes: collections.Counter = collections.Counter()
        status: dict[int, str] = {}
        waiting: set[int] = set()  # the calls sent and not yet ended
        sent = 0
        while sent < count or waiting:
            while sent < count and len(waiting) < at_once:
                stream = self.conn.get_next_available_stream_id()
                self.conn.send_headers(stream, headers, end_stream=half_close and not bodies)
                for index, body in enumerate(bodies):
                    self.conn.send_data(stream, body, end_stream=half_close and index == len(bodies) - 1)
                waiting.add(stream)
                sent += 1
            self.sock.sendall(self.conn.data_to_send())
            data = self.sock.recv(1 << 18)
            if not data:
                raise ConnectionError("the server closed the connection")
            for event in self.conn.receive_data(data):
                stream = getattr(event, "stream_id", 0)
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    found = dict(event.headers).get(b"grpc-status")
                    if found is not None:
                        status[stream] = found.decode()
                elif isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise ConnectionError(f"the server sent GOAWAY: {event.additional_data!r}")
                if stream in waiting and isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    waiting.remove(stream)  # a reset may follow the end of a call not half-closed: counted once
                    outcomes[status.pop(stream, "reset")] += 1
                    if not half_close and isinstance(event, h2.events.StreamEnded):
                        try:
                            self.conn.reset_stream(stream)  # our half is still open: close it
                        except h2.exceptions.StreamClosedError:
                            pass  # the server reset it already
        return outcomes

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> H2cConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def call_once(address: str, path: str, headers: list[tuple[str, str]] = (), body: bytes | None = None,
              timeout: float = 10.0, **options) -> Answer:
    """One call on a connection of its own, and its answer."""
    with H2cConnection(address, timeout=timeout) as connection:
        stream = connection.call(path, headers, body, **options)
        return connection.answers(timeout)[stream]
