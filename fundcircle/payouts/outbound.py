"""Where the server may send a request to Open Collective, and a transport that connects only there.

A treasurer types the API's address and the server fetches it, with the circle's token in a header, so the address
must never lead to the server's own network (loopback, link-local cloud metadata at 169.254.169.254, private
ranges, carrier-grade NAT, ...). The host is resolved once per connection, every address it resolves to is
checked, and the socket is opened to one of those checked addresses: a second DNS lookup (which an attacker's name
server could answer differently) never happens. TLS still sends the name (SNI) and verifies the certificate for
it, and the Host header stays the name, because urllib3 keeps the pool's host; only the socket's peer is pinned.

The local Open Collective sandbox of development and tests runs on 127.0.0.1 over plain http: it is reachable only
when the policy says `allow_loopback` (config OPENCOLLECTIVE_ALLOW_LOOPBACK, never on in production).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Ranges that `ipaddress`'s flags do not all cover on every Python: carrier-grade NAT, NAT64's embedded IPv4,
#: 6to4 and Teredo (which tunnel to an IPv4 address that must be checked in its turn, so they are refused whole).
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(network)
    for network in (
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
        "fc00::/7",
        "fe80::/10",
    )  # fmt: skip
)


class AddressRefused(Exception):  # noqa: N818 - a refusal, not a bug: the message is for a treasurer
    """The address is not one the server may connect to; the message says why, for a treasurer to read.

    Deliberately not an OSError, so that urllib3 does not retry it or wrap it as a connection failure."""


@dataclass(frozen=True)
class AddressPolicy:
    """`allow_loopback`: the local sandbox (127.0.0.0/8, ::1, also over plain http) may be reached."""

    allow_loopback: bool = False


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id such as fe80::1%eth0


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is on the public internet: not private, loopback, link-local, multicast, reserved,
    unspecified, shared (CGNAT), nor an IPv4-mapped, NAT64 or tunnelled form of such an address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public_address(address.ipv4_mapped)
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return False
    return not any(address in network for network in _NOT_PUBLIC if network.version == address.version)


def is_loopback_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_address(address: IPAddress, policy: AddressPolicy, *, plain_http: bool) -> None:
    """:raises AddressRefused: unless `address` is public (and the scheme https), or loopback and allowed."""
    if policy.allow_loopback and is_loopback_address(address):
        return
    if plain_http:
        raise AddressRefused("The address must start with https:// (plain http only reaches the local sandbox).")
    if not is_public_address(address):
        raise AddressRefused(
            "The address leads to a private or local network, which the server may not call: give Open "
            "Collective's public API address, such as https://api.opencollective.com/graphql/v2."
        )


def check_url(url: str, policy: AddressPolicy) -> tuple[str, int, bool]:
    """The host, port and whether it is plain http, of an address the server may call, before resolving it.

    :raises AddressRefused: for another scheme, no host, user info, or plain http that the policy does not allow.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("Give the API's full address, starting with https://.") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise AddressRefused("Give the API's full address, starting with https://.")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("The address may not contain a user name or password.")
    plain_http = parts.scheme == "http"
    if plain_http and not policy.allow_loopback:
        raise AddressRefused("The address must start with https://.")
    return host, port or (80 if plain_http else 443), plain_http


def resolve_checked(host: str, port: int, policy: AddressPolicy, *, plain_http: bool) -> list[tuple[Any, ...]]:
    """Resolve `host` once and check every address it gives; the getaddrinfo entries to connect to, in order.

    :raises AddressRefused: if any address is not allowed (a name with one private address among public ones is
        refused whole: which one a client picks is not ours to rely on), or the name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(f"The server could not find the host “{host}”: check the address.") from None
    if not infos:
        raise AddressRefused(f"The server could not find the host “{host}”: check the address.")
    for info in infos:
        check_address(_address(str(info[4][0])), policy, plain_http=plain_http)
    return infos


def check_url_and_host(url: str, policy: AddressPolicy) -> None:
    """The check when an address is entered: shape, scheme and every address the host resolves to now. It is made
    again at every connection, since what a name resolves to can change.

    :raises AddressRefused: saying what is wrong.
    """
    host, port, plain_http = check_url(url, policy)
    resolve_checked(host, port, policy, plain_http=plain_http)


class _PinnedConnectionMixin:
    """Open the socket to an address checked in this very call, never to a second lookup of the name."""

    policy: AddressPolicy
    plain_http: bool

    def _new_conn(self) -> socket.socket:
        this: Any = self
        infos = resolve_checked(this._dns_host, this.port, self.policy, plain_http=self.plain_http)
        last_error: OSError | None = None
        for *_kind, sockaddr in infos:
            try:
                # An IP literal: create_connection's own getaddrinfo does no DNS lookup for it.
                sock = urllib3_connection.create_connection(
                    (str(sockaddr[0]), this.port),
                    this.timeout,
                    source_address=this.source_address,
                    socket_options=this.socket_options,
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(
                    this, f"Connection to {this.host} timed out. (connect timeout={this.timeout})"
                ) from error
            except OSError as error:
                last_error = error
                continue
            sys.audit("http.client.connect", this, this.host, this.port)
            return sock
        raise NewConnectionError(this, f"Failed to establish a new connection: {last_error}")


def _pool_classes(policy: AddressPolicy) -> dict[str, type[HTTPConnectionPool]]:
    http_connection = type(
        "PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), {"policy": policy, "plain_http": True}
    )
    https_connection = type(
        "PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), {"policy": policy, "plain_http": False}
    )
    return {
        "http": type("PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type("PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}),
    }


class PinnedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only to addresses the policy allows, checked at every connect."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self.policy = policy  # before HTTPAdapter.__init__, which makes the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.policy = state.get("policy", AddressPolicy())
        super().__setstate__(state)


def pinned_session(policy: AddressPolicy) -> requests.Session:
    """A session that reaches only allowed addresses. It ignores proxy settings from the environment (a proxy would
    make the connection, and the check, somewhere else); the client sends with allow_redirects=False."""
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAdapter(policy, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
