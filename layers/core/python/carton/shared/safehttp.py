"""Outbound HTTP that cannot be turned against the service's own network (SSRF).

The host is resolved once; every address it resolves to must be public (no private,
loopback, link-local, metadata, multicast or reserved ranges, IPv4-mapped, 6to4 and
Teredo IPv6 included); the connection goes to that checked address (no second lookup,
so no DNS rebinding) with TLS verified against the host name. Redirects are not
followed; connect and read time out.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(Exception):
    """The URL may never be called (scheme, or an address that is not public)."""


class DeliveryFailed(Exception):
    """The call was made but did not succeed (network error, timeout, 5xx): worth retrying."""


@dataclass(frozen=True)
class Policy:
    timeout_seconds: float = 10.0
    # Only for a developer's own machine (the local stack, opt-in): plain http to loopback.
    allow_loopback: bool = False


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def is_public(address: IPAddress) -> bool:
    inner = embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise DeliveryFailed(f"cannot resolve {host}: {error}") from error
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def checked_destination(url: str, policy: Policy) -> tuple[str, str, int, IPAddress, str]:
    """(scheme, host, port, address to connect to, path) — or UnsafeDestination."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeDestination("the URL has no host")
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
        host.encode("idna")  # a name DNS cannot carry (empty or over-long labels)
    except (ValueError, UnicodeError) as error:
        raise UnsafeDestination(f"not a valid host and port: {host}") from error
    addresses = resolve(host, port)
    loopback_ok = policy.allow_loopback and all(address.is_loopback for address in addresses)
    if scheme != "https" and not loopback_ok:
        raise UnsafeDestination("only https URLs are called")
    if not loopback_ok and not all(is_public(address) for address in addresses):
        raise UnsafeDestination(f"{host} resolves to an address that is not public")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, addresses[0], path


def _connect(scheme: str, host: str, port: int, address: IPAddress, policy: Policy) -> http.client.HTTPConnection:
    """A connection to the checked address, TLS verified against the host name."""
    raw = socket.create_connection((str(address), port), timeout=policy.timeout_seconds)
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=policy.timeout_seconds)
        connection.sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=policy.timeout_seconds)
        connection.sock = raw
    return connection


def post(url: str, body: bytes, headers: dict[str, str], policy: Policy | None = None) -> int:
    """POST `body` and return the status. Network errors, timeouts and 5xx raise
    DeliveryFailed (worth retrying); other statuses are returned for the caller to judge."""
    policy = policy or Policy()
    scheme, host, port, address, path = checked_destination(url, policy)
    try:
        connection = _connect(scheme, host, port, address, policy)
        try:
            connection.request("POST", path, body=body, headers={**headers, "Host": host})
            response = connection.getresponse()
            response.read(64 * 1024)
            status = response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryFailed(f"{host}: {error}") from error
    if status >= 500:
        raise DeliveryFailed(f"{host} answered {status}")
    return status


@dataclass(frozen=True)
class Fetched:
    content_type: str | None
    body: bytes


def get(url: str, max_bytes: int, policy: Policy | None = None, max_redirects: int = 3) -> Fetched:
    """GET a public https URL, following at most `max_redirects` redirects (each target
    checked like the first), refusing bodies over `max_bytes`."""
    policy = policy or Policy()
    for _ in range(max_redirects + 1):
        scheme, host, port, address, path = checked_destination(url, policy)
        try:
            connection = _connect(scheme, host, port, address, policy)
            try:
                connection.request("GET", path, headers={"Host": host, "User-Agent": "Carton-Import/1"})
                response = connection.getresponse()
                if response.status in (301, 302, 303, 307, 308):
                    location = response.getheader("Location")
                    if not location:
                        raise DeliveryFailed(f"{host} redirected without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise DeliveryFailed(f"{host} answered {response.status}")
                declared = response.getheader("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise TooLarge(f"{int(declared):,} bytes is over {max_bytes:,}")
                body = response.read(max_bytes + 1)
                if len(body) > max_bytes:
                    raise TooLarge(f"more than {max_bytes:,} bytes")
                return Fetched(response.getheader("Content-Type"), body)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as error:
            raise DeliveryFailed(f"{host}: {error}") from error
    raise UnsafeDestination(f"more than {max_redirects} redirects")


class TooLarge(Exception):
    """The body is larger than the caller accepts."""
