"""A raw HTTP/2 gRPC client, for calls no gRPC library makes: a unary call that half-closes
without its message (HEADERS with END_STREAM), and many thousands of calls on one connection.

HTTP/2 framing is simple enough to write and read here (RFC 9113, section 4); the header blocks
are the hpack library's. It tells the server a header table of 0 bytes, so that every block the
server sends reads the same whatever came before: a block seen before is not decoded again, and a
call costs this client little beside what it costs the server.
"""

from __future__ import annotations

import collections
import socket
import ssl
import struct
import tempfile
from pathlib import Path

import hpack

from services.runtime.tls import TlsFiles

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
HEADER_TABLE_SIZE, ENABLE_PUSH, INITIAL_WINDOW_SIZE = 0x1, 0x2, 0x4
LARGEST_WINDOW = 2**31 - 1


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def framed(message: bytes) -> bytes:
    """A gRPC message as it goes in DATA frames: uncompressed flag, length, bytes."""
    return struct.pack(">BI", 0, len(message)) + message


class RawGrpc:
    """One HTTP/2 connection over mutual TLS to a service; `calls` sends many calls on it."""

    def __init__(self, address: str, files: TlsFiles, timeout: float = 60):
        host, _, port = address.rpartition(":")
        context = ssl.create_default_context(cadata=files.ca.decode())
        with tempfile.TemporaryDirectory() as folder:  # ssl loads a key pair from files only
            cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert.write_bytes(files.cert)
            key.write_bytes(files.key)
            context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["h2"])
        self._socket = context.wrap_socket(socket.create_connection((host, int(port)), timeout), server_hostname=host)
        self._authority = address
        self._next_stream = 1
        self._buffer = b""
        self._decoder = hpack.Decoder()
        self._decoder.max_allowed_table_size = 0
        self._blocks: dict[bytes, dict[bytes, bytes]] = {}  # the same bytes, the same headers (no table)
        settings = struct.pack(">HIHIHI", HEADER_TABLE_SIZE, 0, ENABLE_PUSH, 0, INITIAL_WINDOW_SIZE, LARGEST_WINDOW)
        connection_window = struct.pack(">I", LARGEST_WINDOW - 65535)
        self._socket.sendall(PREFACE + frame(SETTINGS, 0, 0, settings) + frame(WINDOW_UPDATE, 0, 0, connection_window))

    def close(self) -> None:
        self._socket.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
        self._socket.close()

    def __enter__(self) -> RawGrpc:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def calls(
        self, path: str, count: int, messages: tuple[bytes, ...] = (), half_close: bool = True, at_once: int = 200,
        metadata: tuple[tuple[bytes, bytes], ...] = (),
    ) -> collections.Counter:
        """Sends `count` calls of `path`, at most `at_once` open together, each with `metadata`
        (bytes as they go, any bytes) and `messages` (none: a call without its message) and, if
        `half_close`, END_STREAM after them. Returns
        how many calls ended with each grpc-status ("reset": a stream reset without one). Every
        call is waited for: one never answered holds this until the socket's timeout."""
        headers = [(":method", "POST"), (":scheme", "https"), (":path", path), (":authority", self._authority),
                   ("content-type", "application/grpc"), ("te", "trailers"), *metadata]
        block = hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple(*header) for header in headers])  # no table
        bodies = [framed(message) for message in messages]
        outcomes: collections.Counter = collections.Counter()
        status: dict[int, bytes] = {}
        waiting: set[int] = set()  # the calls sent and not yet ended
        sent = 0
        while sent < count or waiting:
            out = []
            while sent < count and len(waiting) < at_once:
                stream, self._next_stream = self._next_stream, self._next_stream + 2
                waiting.add(stream)
                ends = END_STREAM if half_close and not bodies else 0
                out.append(frame(HEADERS, END_HEADERS | ends, stream, block))
                for index, body in enumerate(bodies):
                    out.append(frame(DATA, END_STREAM if half_close and index == len(bodies) - 1 else 0, stream, body))
                sent += 1
            if out:
                self._socket.sendall(b"".join(out))
            for kind, flags, stream, payload in self._frames():
                if kind == HEADERS:
                    found = self._headers(flags, payload).get(b"grpc-status")
                    if found is not None:
                        status[stream] = found
                if stream in waiting and (kind == RST_STREAM or kind in (DATA, HEADERS) and flags & END_STREAM):
                    waiting.remove(stream)  # a reset may follow the end of a call not half-closed: counted once
                    outcomes[status.pop(stream, b"reset").decode()] += 1
        return outcomes

    def _frames(self):
        """The frames that have arrived (at least one), answering SETTINGS and PING as they come."""
        data = self._socket.recv(1 << 18)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buffer += data
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                break
            kind, flags = self._buffer[3], self._buffer[4]
            stream = int.from_bytes(self._buffer[5:9], "big") & LARGEST_WINDOW
            payload, self._buffer = self._buffer[9 : 9 + length], self._buffer[9 + length :]
            if kind == SETTINGS and not flags & ACK:
                self._socket.sendall(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                self._socket.sendall(frame(PING, ACK, 0, payload))
            elif kind == GOAWAY:
                raise ConnectionError(f"the server sent GOAWAY: {payload[8:]!r}")
            elif kind == HEADERS and not flags & END_HEADERS:
                raise NotImplementedError("a header block in CONTINUATION frames: none is expected here")
            else:
                yield kind, flags, stream, payload

    def _headers(self, flags: int, payload: bytes) -> dict[bytes, bytes]:
        if flags & PADDED:
            payload = payload[1 : len(payload) - payload[0]]
        if flags & PRIORITY:
            payload = payload[5:]
        headers = self._blocks.get(payload)
        if headers is None:
            headers = dict(self._decoder.decode(payload, raw=True))
            if len(self._blocks) < 1024:
                self._blocks[payload] = headers
        return headers
