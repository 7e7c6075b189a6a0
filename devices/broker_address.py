"""Where an MQTT broker is and how to reach it: `BrokerAddress.parse("mqtts://host:8883", tls_ca)`. Shared kernel.

Owns the one reading of a broker URL for every client hallops runs: the gateway (`edge/config.py`), a camera
(`vision/config.py`), the simulator (`devices/simulator/publisher.py`) and `hallops rules push`
(`cloud_sync/delivery.py`), and the TLS context they connect with:

    mqtt://HOST[:PORT]     plain TCP, port 1883 by default
    mqtts://HOST[:PORT]    TLS, port 8883 by default; the server's certificate is checked against the system's CAs,
                           or against `tls_ca` (a PEM file, e.g. the hall's own CA) when one is given
    a `tls_ca` with mqtt://    TLS too: a CA file only makes sense for TLS (the default port is then 8883)
    `tls_cert` (+ `tls_key`)   the client's own certificate, for a broker that asks for one (a listener with
                           `require_certificate true`); implies TLS. The key may be in the certificate's file.

It lives in `devices` because every one of those packages may import `devices` and nothing else. It must not
connect, hold credentials (user names and passwords come from each client's own configuration) or know a client
library: each client passes `host`, `port` and `tls_context()` to aiomqtt or paho itself.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCHEMES = ("mqtt", "mqtts")
PLAIN_PORT = 1883
TLS_PORT = 8883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    tls_ca: Path | None = None  # a CA file; TLS without one trusts the system's CAs
    tls_cert: Path | None = None  # the client's certificate (PEM), when the broker asks for one
    tls_key: Path | None = None  # its private key (PEM), unless it is in the certificate's file

    @classmethod
    def parse(
        cls, url: str, tls_ca: Path | None = None, tls_cert: Path | None = None, tls_key: Path | None = None
    ) -> BrokerAddress:
        """mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS; ValueError in plain words otherwise."""
        if tls_key is not None and tls_cert is None:
            raise ValueError(f"a client key ({tls_key}) needs its certificate (tls_cert) as well")
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"{url!r} must look like mqtt://HOST:PORT or mqtts://HOST:PORT")
        try:
            port = parts.port  # None when left out; ValueError when not a number or over 65535
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"{url!r}: the port must be a number from 1 to 65535")
        tls = parts.scheme == "mqtts" or tls_ca is not None or tls_cert is not None
        return cls(parts.hostname, port or (TLS_PORT if tls else PLAIN_PORT), tls, tls_ca, tls_cert, tls_key)

    def tls_context(self) -> ssl.SSLContext | None:
        """What the client connects with: None for plain TCP, else a context that checks the broker's certificate
        and host name (against `tls_ca` if given), and presents `tls_cert` if given. ValueError in plain words if a
        file cannot be used."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.tls_ca) if self.tls_ca is not None else None)
        except OSError as exc:  # ssl.SSLError is one: not PEM, no certificate in it
            raise ValueError(f"cannot use the CA file {self.tls_ca}: {exc}") from None
        if self.tls_cert is not None:
            try:
                context.load_cert_chain(self.tls_cert, self.tls_key)
            except OSError as exc:  # missing, unreadable, not PEM, or the key does not match the certificate
                files = f"{self.tls_cert}" + (f" and {self.tls_key}" if self.tls_key is not None else "")
                raise ValueError(f"cannot use the client certificate {files}: {exc}") from None
        return context

    def __str__(self) -> str:
        """host:port, as error messages and logs name the broker."""
        return f"{self.host}:{self.port}"


__all__ = ["BrokerAddress"]
