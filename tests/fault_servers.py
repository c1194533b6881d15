"""Broken collectors for fault-injection tests, all on loopback and bounded.

- :func:`self_signed_tls` makes a certificate the client does not trust (for ``Receiver(tls=...)``).
- :class:`GrpcErrorCollector` is an OTLP/gRPC endpoint that answers every export with a given
  status code (``UNAVAILABLE`` is retried by the exporter, ``INTERNAL`` is not).
- :func:`closed_port` gives a port nothing listens on (refused connections).
"""

from __future__ import annotations

import datetime
import socket
import ssl
from concurrent import futures
from pathlib import Path

import grpc


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and the cert's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otel-listener-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "collector.crt", folder / "collector.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


class GrpcErrorCollector:
    """OTLP/gRPC trace and metric services that fail every export with ``code``."""

    SERVICES = (
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
    )

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code
        self.calls = 0
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))

        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls += 1
            context.abort(self.code, "injected failure")

        handler = grpc.unary_unary_rpc_method_handler(export)  # raw bytes in and out
        for service in self.SERVICES:
            self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler}),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> GrpcErrorCollector:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
