"""The Open Collective address a treasurer types is fetched by the server, with the circle's token: it may lead only
to public addresses over https, checked when it is entered and again at every connection, and redirects are never
followed. The local sandbox on 127.0.0.1 works only through the explicit OPENCOLLECTIVE_ALLOW_LOOPBACK setting.

Real sockets and real HTTP stand-ins on loopback throughout: a refused address must not even be connected to."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.payouts.models import OpenCollectiveConnection
from fundcircle.payouts.opencollective import OpenCollectiveClient, PayoutGatewayError
from fundcircle.payouts.outbound import AddressPolicy
from fundcircle.payouts.services import ConnectionInput, check_connection_input
from oc_sandbox.sandbox import RunningSandbox
from tests.conftest import Client
from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_TOKEN
from tests.worlds.treasury import build_treasury

STRICT = AddressPolicy(allow_loopback=False)
SANDBOX = AddressPolicy(allow_loopback=True)

#: Addresses that lead into the server's own network, each with a port filled in by the test.
FORBIDDEN = [
    "https://127.0.0.1:{port}/graphql/v2",
    "https://169.254.169.254:{port}/latest/meta-data",
    "https://10.1.2.3:{port}/graphql/v2",
    "https://192.168.1.20:{port}/graphql/v2",
    "https://[::1]:{port}/graphql/v2",
    "https://[::ffff:127.0.0.1]:{port}/graphql/v2",
    "https://100.64.0.1:{port}/graphql/v2",
    "https://localhost:{port}/graphql/v2",  # a name, resolving to a loopback address
    "http://127.0.0.1:{port}/graphql/v2",
]


class Listener:
    """A TCP socket on 127.0.0.1 that counts who connects to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.sock.close()


@contextmanager
def stand_in(handler: Callable[[Request], Response]) -> Iterator[tuple[str, list[Request]]]:
    """A real HTTP server on 127.0.0.1 answering with `handler`; yields its base URL and the requests it saw."""
    seen: list[Request] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.get_data()
        seen.append(request)
        return handler(request)(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        thread.join()


def _connection_input(api_url: str) -> ConnectionInput:
    return ConnectionInput(api_url=api_url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN, expense_type="GRANT")


# -- at entry --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", FORBIDDEN)
def test_each_private_address_is_refused_when_entered(make_app: Callable[..., Flask], address: str) -> None:
    strict = make_app(OPENCOLLECTIVE_ALLOW_LOOPBACK=False)
    with strict.app_context(), pytest.raises(ValidationFailed) as caught:
        check_connection_input(_connection_input(address.format(port=443)))
    assert caught.value.field == "api_url"
    assert "https://" in str(caught.value) or "private or local network" in str(caught.value)


def test_the_connect_form_refuses_a_metadata_address_and_saves_nothing(
    make_app: Callable[..., Flask], oc_sandbox: RunningSandbox, app: Flask
) -> None:
    treasury = build_treasury(app, oc_sandbox, connect=False)
    strict = make_app(OPENCOLLECTIVE_ALLOW_LOOPBACK=False)
    client: Client = strict.test_client()  # type: ignore[assignment]
    client.login(treasury.emails["tomas"])
    url = f"/circles/{treasury.circle_id}/treasury/connect"
    for address in ("https://169.254.169.254/latest/meta-data", oc_sandbox.url):
        form = {"api_url": address, "slug": SANDBOX_COLLECTIVE, "token": SANDBOX_TOKEN, "expense_type": "GRANT"}
        response = client.post_form(url, form)
        text = response.get_data(as_text=True)
        assert response.status_code == 422, address
        assert 'id="api_url-error"' in text
    with strict.app_context():
        assert db.session.get(OpenCollectiveConnection, treasury.circle_id) is None


# -- at every connection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", FORBIDDEN)
def test_each_private_address_is_refused_at_connect_without_connecting(listener: Listener, address: str) -> None:
    client = OpenCollectiveClient(address.format(port=listener.port), "secret-token", read_attempts=1, policy=STRICT)
    with client, pytest.raises(PayoutGatewayError) as caught:
        client.create_expense(SANDBOX_COLLECTIVE, {})
    assert caught.value.outcome == "not_sent" and caught.value.code == "AddressRefused"
    assert "secret-token" not in caught.value.message
    assert listener.connections() == 0


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(status: int) -> None:
    """Measured before: a 307 to plain http on 127.0.0.1 was followed, POST and Personal-Token header included."""
    with stand_in(lambda request: Response("internal admin page", status=200)) as (inner_url, inner_seen):
        redirect = Response("moved: internal-detail-xyz", status=status, headers={"Location": f"{inner_url}/admin"})
        with stand_in(lambda request: redirect) as (outer_url, outer_seen):
            client = OpenCollectiveClient(f"{outer_url}/graphql/v2", "secret-token", read_attempts=1, policy=SANDBOX)
            with client, pytest.raises(PayoutGatewayError) as caught:
                client.me()
    assert len(outer_seen) == 1 and inner_seen == []
    assert caught.value.status == status and "redirect" in caught.value.message
    assert "internal-detail-xyz" not in caught.value.message and inner_url not in caught.value.message


def test_what_another_service_answers_is_not_echoed() -> None:
    answers = iter(
        [
            Response("<html>db password is hunter2</html>", status=404),
            Response("stack trace: hunter2", status=500),
            Response("hunter2", status=200),
        ]
    )
    with stand_in(lambda request: next(answers)) as (url, _seen):
        client = OpenCollectiveClient(f"{url}/graphql/v2", "t", read_attempts=1, policy=SANDBOX)
        with client:
            for _ in range(3):
                with pytest.raises(PayoutGatewayError) as caught:
                    client.create_expense(SANDBOX_COLLECTIVE, {})
                assert "hunter2" not in caught.value.message


def test_the_sandbox_on_loopback_works_only_with_the_explicit_setting(oc_sandbox: RunningSandbox) -> None:
    with OpenCollectiveClient(oc_sandbox.url, SANDBOX_TOKEN, read_attempts=1, policy=SANDBOX) as client:
        assert client.collective(SANDBOX_COLLECTIVE).slug == SANDBOX_COLLECTIVE
    with OpenCollectiveClient(oc_sandbox.url, SANDBOX_TOKEN, read_attempts=1) as client:
        with pytest.raises(PayoutGatewayError) as caught:
            client.me()
        assert caught.value.code == "AddressRefused"


def test_the_sandbox_can_be_connected_in_development(app: Flask, oc_sandbox: RunningSandbox) -> None:
    with app.app_context():
        assert check_connection_input(_connection_input(oc_sandbox.url)).api_url == oc_sandbox.url


def test_a_stored_address_is_checked_again_at_every_connection(
    make_app: Callable[..., Flask], app: Flask, oc_sandbox: RunningSandbox, listener: Listener
) -> None:
    """An address accepted once (or what its name resolves to) can change: the server's own client refuses it when
    it connects, under the production setting, and never opens the connection."""
    from fundcircle.payouts.services import client_for, connection_of
    from tests.factories import connect_circle

    treasury = build_treasury(app, oc_sandbox, connect=False)
    strict = make_app(OPENCOLLECTIVE_ALLOW_LOOPBACK=False)
    with strict.app_context():
        from fundcircle.auth.models import User
        from fundcircle.circles.models import Circle

        circle = db.session.get(Circle, treasury.circle_id)
        tomas = db.session.scalars(db.select(User).where(User.email == treasury.emails["tomas"])).one()
        assert circle is not None
        connect_circle(circle, tomas, api_url=f"https://localhost:{listener.port}/graphql/v2",
                       slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN)  # fmt: skip
        connection = connection_of(treasury.circle_id)
        assert connection is not None
        with client_for(connection) as client, pytest.raises(PayoutGatewayError) as caught:
            client.collective(SANDBOX_COLLECTIVE)
    assert caught.value.code == "AddressRefused" and caught.value.outcome == "not_sent"
    assert listener.connections() == 0


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.251", False),
        ("100.64.0.1", False),
        ("172.16.0.1", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::", False),
    ],
)
def test_which_addresses_count_as_public(address: str, public: bool) -> None:
    import ipaddress

    from fundcircle.payouts.outbound import is_public_address

    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("api_url", "policy", "trusted"),
    [
        ("https://api.opencollective.com/graphql/v2", STRICT, True),
        ("https://api-staging.opencollective.com/graphql/v2", STRICT, True),
        ("https://oc.example.org/graphql/v2", STRICT, False),
        ("https://api.opencollective.com.example.org/graphql/v2", STRICT, False),
        ("http://127.0.0.1:5050/graphql/v2", SANDBOX, True),
        ("http://127.0.0.1:5050/graphql/v2", STRICT, False),
    ],
)
def test_only_open_collective_and_the_allowed_sandbox_have_their_messages_shown(
    api_url: str, policy: AddressPolicy, trusted: bool
) -> None:
    """Another service's error text (an internal API answering GraphQL-like errors) is never echoed to the page."""
    from fundcircle.payouts.opencollective import speaks_for_open_collective

    assert speaks_for_open_collective(api_url, policy) is trusted


def test_over_tls_the_checked_address_is_called_by_its_name(tmp_path: Any) -> None:
    """The socket goes to the address checked, but TLS sends the name (SNI), the certificate is verified for the
    name, and the Host header is the name: a certificate for another name is refused."""
    import ssl
    import subprocess  # nosec B404  # openssl makes the test's own certificate

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(  # nosec B603 B607  # a fixed command
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)  # type: ignore[assignment,misc,return-value]
    me = Response('{"data": {"me": {"id": "1", "slug": "tess"}}}', content_type="application/json")
    seen: list[Request] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(Request(environ))
        return me(environ, start_response)

    server = make_server("127.0.0.1", 0, app, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        by_name = OpenCollectiveClient(f"https://localhost:{port}/graphql/v2", "t", read_attempts=1, policy=SANDBOX,
                                       ca_bundle=str(cert))  # fmt: skip
        with by_name:
            assert by_name.me().slug == "tess"
        assert names == ["localhost"] and seen[0].headers["Host"] == f"localhost:{port}"
        by_address = OpenCollectiveClient(f"https://127.0.0.1:{port}/graphql/v2", "t", read_attempts=1,
                                          policy=SANDBOX, ca_bundle=str(cert))  # fmt: skip
        with by_address, pytest.raises(PayoutGatewayError):
            by_address.me()
        assert len(seen) == 1  # the certificate is not 127.0.0.1's: nothing was sent
    finally:
        server.shutdown()
        thread.join()
