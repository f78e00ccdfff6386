"""Email over SMTP: multipart text and HTML, one-click unsubscribe headers (RFC 8058), and a
Message-ID derived from the send's idempotency key, so a resend after a crash carries the same
id and a de-duplicating relay or inbox can drop it."""

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from functools import cache

# Long URL headers (List-Unsubscribe) must stay one plain line: folding a header that has no
# spaces makes the library encode it, and mail clients then cannot read the link.
HEADERS = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0


class PermanentFailure(Exception):
    """The server refused the message for good (bad address, 5xx): do not retry."""


def message_id(idempotency_key: str, domain: str = "journeys.local") -> str:
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


def build(
    config: SmtpConfig, *, to: str, subject: str, text: str, html: str | None,
    idempotency_key: str, unsubscribe_url: str,
) -> EmailMessage:  # fmt: skip
    msg = EmailMessage(policy=HEADERS)
    msg["From"] = config.sender
    msg["To"] = formataddr(("", to))
    msg["Subject"] = subject
    msg["Message-ID"] = message_id(idempotency_key, config.sender.rsplit("@", 1)[-1].strip(">"))
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


@cache
def _tls_context() -> ssl.SSLContext:
    """One per process, made when first needed: loading the CA certificates took a fifth of a
    busy worker's CPU when each send made its own (and plain SMTP needs none)."""
    return ssl.create_default_context()


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    """An open connection: implicit TLS (SMTPS) when `tls`, plain SMTP otherwise."""
    if config.tls:
        return smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=_tls_context()
        )
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout)


def send(config: SmtpConfig, message: EmailMessage) -> None:
    """Deliver one message. Raises PermanentFailure for 5xx answers and refused recipients;
    anything else (connection errors, 4xx) is transient and worth a retry — a refused login
    too (535): a wrong password fails every message until an operator fixes it, and then
    they should go."""
    try:
        with _connect(config) as smtp:
            if config.starttls:
                smtp.starttls(context=_tls_context())
            if config.username:
                smtp.login(config.username, config.password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise  # the server's setting, not this message: retried
    except smtplib.SMTPRecipientsRefused as err:
        raise PermanentFailure(f"recipient refused: {err.recipients}") from err
    except smtplib.SMTPResponseException as err:
        if 500 <= err.smtp_code < 600:
            raise PermanentFailure(f"{err.smtp_code} {err.smtp_error!r}") from err
        raise
