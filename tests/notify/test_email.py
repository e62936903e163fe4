"""E-mail channel against a real local SMTP server (aiosmtpd): plain, STARTTLS, implicit TLS, AUTH, failures."""
from __future__ import annotations

import ipaddress
import ssl
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kairos.notify.alerts import Alert
from kairos.notify.email import EmailChannel
from kairos.schema import Secret
from kairos.settings import EmailSettings
from notify import SilentServer, SmtpServer, closed_port, text_and_html

SENDER = "kairos@example.com"
RECIPIENTS = ("ops@example.com", "owner@example.org")
NOW = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)
PASSWORD = "app-password-7731"


def settings(port: int, **kw: object) -> EmailSettings:
    base: dict[str, object] = {"enabled": True, "smtp_server": "127.0.0.1", "smtp_port": port, "security": "none",
                               "sender": SENDER, "recipients": RECIPIENTS, "timeout_seconds": Decimal(5)}
    return EmailSettings(**{**base, **kw})  # type: ignore[arg-type]


def alert(alert_type: str = "season_change", **kw: object) -> Alert:
    base: dict[str, object] = {"title": "계절 변경: 위험선호", "lines": ("BTC 95,123,456 KRW", "MA×1.05 64,050,000 KRW"),
                               "fields": {"crypto_ratio": Decimal("0.70")}}
    return Alert(alert_type, **{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made for this test run."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.now(timezone.utc) - timedelta(days=1))
            .not_valid_after(datetime.now(timezone.utc) + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context


def client_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


# ---- plain SMTP (security: none) -----------------------------------------------------------------
def test_message_is_received_with_subject_recipients_and_both_parts() -> None:
    with SmtpServer() as server:
        delivery = EmailChannel(settings(server.port), now=lambda: NOW).send(alert(action="리밸런싱 결과를 확인하세요"))
    assert delivery.ok, delivery.detail
    assert delivery.detail == f"sent to 2 recipient(s) via 127.0.0.1:{server.port}"
    [got] = server.received
    assert got.mail_from == SENDER and got.rcpt_tos == list(RECIPIENTS)
    msg = got.message
    assert msg["Subject"] == "[KAIROS-1] WARNING 계절 변경: 위험선호"
    assert msg["From"] == SENDER and msg["To"] == ", ".join(RECIPIENTS)
    assert msg["Date"] == "Mon, 05 Jan 2026 00:00:00 +0000"
    text, markup = text_and_html(msg)
    assert "- BTC 95,123,456 KRW" in text and "- crypto_ratio: 0.70" in text
    assert "다음 조치: 리밸런싱 결과를 확인하세요" in text
    assert "<li>BTC 95,123,456 KRW</li>" in markup and "<strong>다음 조치:</strong>" in markup


def test_html_part_escapes_alert_text() -> None:
    with SmtpServer() as server:
        EmailChannel(settings(server.port)).send(alert(title="BTC <b>up</b> & away", lines=("<script>x</script>",)))
    msg = server.received[0].message
    _, markup = text_and_html(msg)
    assert "<h2>BTC &lt;b&gt;up&lt;/b&gt; &amp; away</h2>" in markup
    assert "<script>" not in markup and "&lt;script&gt;x&lt;/script&gt;" in markup


@pytest.mark.parametrize("lang, simulated, subject", [
    ("ko", True, "[KAIROS-1] INFO [모의 거래소] KAIROS-1 알림 테스트"),
    ("en", True, "[KAIROS-1] INFO [SIMULATED] KAIROS-1 알림 테스트"),
    ("ko", False, "[KAIROS-1] INFO KAIROS-1 알림 테스트"),
])
def test_subject_marks_simulated_runs(lang: str, simulated: bool, subject: str) -> None:
    with SmtpServer() as server:
        EmailChannel(settings(server.port), lang=lang).send(alert("test", title="KAIROS-1 알림 테스트",
                                                                   simulated=simulated))
    assert server.received[0].message["Subject"] == subject


def test_english_body_labels() -> None:
    with SmtpServer() as server:
        EmailChannel(settings(server.port), lang="en").send(alert("system_error", action="Check the log", simulated=True))
    text, _ = text_and_html(server.received[0].message)
    assert "What to do next: Check the log" in text
    assert "[SIMULATED] KAIROS-1 · critical · system_error" in text


def test_refused_connection_is_a_failed_delivery() -> None:
    delivery = EmailChannel(settings(closed_port())).send(alert())
    assert not delivery.ok
    assert delivery.detail.startswith("ConnectionRefusedError:")
    assert "\n" not in delivery.detail


def test_silent_server_times_out_quickly() -> None:
    with SilentServer() as silent:
        started = time.monotonic()
        delivery = EmailChannel(settings(silent.port, timeout_seconds=Decimal("0.3"))).send(alert())
    assert not delivery.ok and "timed out" in delivery.detail
    assert time.monotonic() - started < 5


def test_one_refused_recipient_is_reported_as_a_failure() -> None:
    with SmtpServer(refuse=frozenset({"owner@example.org"})) as server:
        delivery = EmailChannel(settings(server.port)).send(alert())
    assert not delivery.ok
    assert delivery.detail == "recipients refused: owner@example.org (the others were accepted)"
    assert server.received[0].rcpt_tos == ["ops@example.com"]


# ---- AUTH and TLS ------------------------------------------------------------------------------
def test_login_when_a_username_is_set() -> None:
    with SmtpServer(login=("kairos", PASSWORD)) as server:
        delivery = EmailChannel(settings(server.port, username="kairos", password=Secret(PASSWORD))).send(alert())
    assert delivery.ok, delivery.detail
    assert len(server.received) == 1


def test_wrong_password_fails_without_showing_it() -> None:
    with SmtpServer(login=("kairos", "the-right-one")) as server:
        delivery = EmailChannel(settings(server.port, username="kairos", password=Secret(PASSWORD))).send(alert())
    assert not delivery.ok
    assert delivery.detail.startswith("SMTPAuthenticationError: 535")
    assert PASSWORD not in delivery.detail
    assert server.received == []


def test_starttls_then_login(tls_files: tuple[Path, Path]) -> None:
    with SmtpServer(login=("kairos", PASSWORD), tls_context=server_context(tls_files), require_starttls=True,
                    auth_require_tls=True) as server:
        channel = EmailChannel(settings(server.port, security="starttls", username="kairos", password=Secret(PASSWORD)),
                               tls_context=client_context(tls_files))
        delivery = channel.send(alert())
    assert delivery.ok, delivery.detail
    assert len(server.received) == 1


def test_starttls_refused_by_a_plain_server_fails() -> None:
    with SmtpServer() as server:
        delivery = EmailChannel(settings(server.port, security="starttls")).send(alert())
    assert not delivery.ok and delivery.detail.startswith("SMTPNotSupportedError")
    assert server.received == []


def test_implicit_tls(tls_files: tuple[Path, Path]) -> None:
    with SmtpServer(ssl_context=server_context(tls_files)) as server:
        delivery = EmailChannel(settings(server.port, security="ssl"), tls_context=client_context(tls_files)).send(alert())
    assert delivery.ok, delivery.detail
    assert server.received[0].message["Subject"].startswith("[KAIROS-1] WARNING")


def test_untrusted_certificate_is_refused_by_default(tls_files: tuple[Path, Path]) -> None:
    with SmtpServer(ssl_context=server_context(tls_files)) as server:
        delivery = EmailChannel(settings(server.port, security="ssl")).send(alert())
    assert not delivery.ok and "CERTIFICATE_VERIFY_FAILED" in delivery.detail
    assert server.received == []
