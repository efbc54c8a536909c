"""A small pool of kept-open SMTP connections (aiosmtplib) for the mail worker.

Opening a connection costs a TCP (and maybe TLS) handshake, the greeting, EHLO and maybe
AUTH: several round trips and far more CPU than the mail itself. So each connection
carries many mails, one transaction at a time, and at most `size` are open at once.

Servers close connections they find idle, or refuse more mails on one connection, so:
- a connection the server has closed (we saw the FIN) is replaced before use;
- one idle longer than `PROBE_AFTER` is probed with NOOP first (a NAT box or a server may
  have dropped it without a word);
- one idle longer than `CLOSE_AFTER` is closed by us with QUIT (`close_idle`), well
  before the five minutes RFC 5321 asks servers to wait, so we never hold server slots
  for nothing;
- a reused connection that fails at once with a disconnect or 421 (the server's "closing
  this channel") is replaced and the mail tried once more on a fresh one. A disconnect
  right after the server took the message could then send it twice: a confirmation mail
  twice is harmless, a lost one is not.
After an SMTP error answer the envelope is reset (RSET) and the connection kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiosmtplib
from aiosmtplib.status import SMTPStatus

from relay.settings import SmtpSettings

PROBE_AFTER = 5.0
CLOSE_AFTER = 30.0
# Many servers cap the mails per connection (Exchange, some providers at 100); a new
# connection every few hundred mails costs nothing worth measuring.
MAILS_PER_CONNECTION = 100
QUIT_TIMEOUT = 2.0
# The server's "service not available, closing transmission channel".
SERVICE_CLOSING = 421


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    idle_since: float = field(default_factory=time.monotonic)
    mails: int = 0


class SmtpPool:
    """Sends mails over at most `size` kept-open connections; callers beyond wait."""

    def __init__(self, smtp: SmtpSettings, *, size: int, timeout: float) -> None:
        self._smtp = smtp
        self._timeout = timeout
        self._slots = asyncio.Semaphore(size)
        # Most recently used last: reuse the warmest, let the coldest age out.
        self._idle: list[_Connection] = []
        self.connections_opened = 0

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """One mail transaction; raises aiosmtplib.SMTPException, OSError or TimeoutError."""
        async with self._slots:
            connection, reused = await self._take()
            try:
                await self._transaction(connection, sender, recipient, message)
            except (ConnectionError, aiosmtplib.SMTPResponseException) as error:
                if not (reused and _server_closed(error)):
                    raise
                # The server closed the connection while it sat idle: once more, fresh.
                await self._transaction(await self._open(), sender, recipient, message)

    async def close_idle(self, *, older_than: float = CLOSE_AFTER) -> None:
        """QUITs connections idle longer than `older_than` seconds (0: all idle ones)."""
        now = time.monotonic()
        stale = [c for c in self._idle if now - c.idle_since >= older_than]
        self._idle = [c for c in self._idle if now - c.idle_since < older_than]
        await asyncio.gather(*(_quit(c) for c in stale))

    async def _take(self) -> tuple[_Connection, bool]:
        while self._idle:
            connection = self._idle.pop()
            idle = time.monotonic() - connection.idle_since
            if not connection.client.is_connected or idle >= CLOSE_AFTER:
                _discard(connection)
                continue
            if idle >= PROBE_AFTER:
                try:
                    await connection.client.noop(timeout=min(self._timeout, 5.0))
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    _discard(connection)
                    continue
            return connection, True
        return await self._open(), False

    async def _open(self) -> _Connection:
        smtp = self._smtp
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.use_tls,
            start_tls=smtp.start_tls,
            timeout=self._timeout,
        )
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        self.connections_opened += 1
        return _Connection(client)

    async def _transaction(
        self, connection: _Connection, sender: str, recipient: str, message: bytes
    ) -> None:
        try:
            await _mail_transaction(connection.client, sender, recipient, message)
        except OSError:
            # Timeout or lost connection (aiosmtplib's are OSErrors too): the state of the
            # conversation is unknown, never reuse it.
            _discard(connection)
            raise
        except Exception:
            # An answer such as 451 or 550, or an address refused before sending: the
            # connection is sound once the envelope is reset.
            await self._release_after_error(connection)
            raise
        except BaseException:  # cancelled mid-conversation
            _discard(connection)
            raise
        connection.mails += 1
        if connection.mails >= MAILS_PER_CONNECTION:
            await _quit(connection)
        else:
            self._keep(connection)

    async def _release_after_error(self, connection: _Connection) -> None:
        try:
            await connection.client.rset(timeout=min(self._timeout, 5.0))
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            _discard(connection)
        else:
            self._keep(connection)

    def _keep(self, connection: _Connection) -> None:
        if connection.client.is_connected:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)


async def _mail_transaction(
    client: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes
) -> None:
    """MAIL, RCPT, DATA. Not aiosmtplib's `sendmail`: it parses both addresses four times
    and normalizes the message once more for SIZE, a third of its CPU per mail. Our
    addresses are plain ASCII dot-atoms (relay/booking/submission.py) and the message is
    CRLF already;
    execute_command still refuses control characters in an argument."""
    size = (b"SIZE=%d" % len(message),) if client.supports_extension("size") else ()
    response = await client.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), *size)
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
    response = await client.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode())
    if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
    await client.data(message)


def _server_closed(error: Exception) -> bool:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return error.code == SERVICE_CLOSING
    return True


def _discard(connection: _Connection) -> None:
    connection.client.close()


async def _quit(connection: _Connection) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        await connection.client.quit(timeout=QUIT_TIMEOUT)
    connection.client.close()
