"""Where the MQTT broker is and how to log in: `mqtt://HOST:PORT` or `mqtts://HOST:PORT`, credentials and TLS
files from the environment (never on the command line, where `ps` shows them)."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from credwarden.errors import UsageError

ENV_USERNAME = "CREDWARDEN_MQTT_USERNAME"
ENV_PASSWORD = "CREDWARDEN_MQTT_PASSWORD"
ENV_CA = "CREDWARDEN_MQTT_CA"
ENV_CERT = "CREDWARDEN_MQTT_CERT"
ENV_KEY = "CREDWARDEN_MQTT_KEY"
ENV_KEY_PASSWORD = "CREDWARDEN_MQTT_KEY_PASSWORD"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: Report topic of the CW/1 contract; `+` is the device's IMEI.
DEFAULT_TOPIC = "cw/v1/+/report"
_IMEI_SEGMENT = re.compile(r"^\d{15}$")


@dataclass(frozen=True)
class BrokerConfig:
    """A validated broker address with its login (the password never appears in `repr` or `display`)."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    @property
    def display(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] | None = None, *, option: str = "--mqtt") -> BrokerConfig:
        """Parse `--mqtt URL` (`option` names it in messages); UsageError for anything that cannot work (before
        connecting)."""
        env = os.environ if env is None else env
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise UsageError(f"{option} must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not {url.split('@')[-1]!r}")
        if parts.password is not None or parts.username is not None:
            raise UsageError(
                f"{option}: put the login in ${ENV_USERNAME} / ${ENV_PASSWORD}, not in the URL (other users see "
                "command lines)"
            )
        if not parts.hostname:
            raise UsageError(f"{option} {url!r} has no host")
        if parts.path not in ("", "/") or parts.query:
            raise UsageError(f"{option} {url!r}: only a scheme, a host and a port are allowed (the topic is --topic)")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise UsageError(f"{option} {url!r}: the port is not a number 1..65535") from None
        files = {}
        for name, var in (("ca_file", ENV_CA), ("cert_file", ENV_CERT), ("key_file", ENV_KEY)):
            value = env.get(var)
            if value:
                path = Path(value).expanduser()
                if not path.is_file():
                    raise UsageError(f"${var} names {str(path)!r}, which is not a readable file")
                files[name] = path
        if files and parts.scheme != "mqtts":
            raise UsageError(f"TLS files are set (${ENV_CA} / ${ENV_CERT} / ${ENV_KEY}) but {option} is not mqtts://")
        if ("cert_file" in files) != ("key_file" in files):
            raise UsageError(f"a client certificate needs both ${ENV_CERT} and ${ENV_KEY}")
        username = env.get(ENV_USERNAME) or None
        password = env.get(ENV_PASSWORD) or None
        if password is not None and username is None:
            raise UsageError(f"${ENV_PASSWORD} is set but ${ENV_USERNAME} is not")
        key_password = env.get(ENV_KEY_PASSWORD) or None
        if key_password is not None and "key_file" not in files:
            raise UsageError(f"${ENV_KEY_PASSWORD} is set but ${ENV_KEY} is not")
        config = cls(parts.scheme, parts.hostname, port, username, password, key_password=key_password, **files)
        if config.tls:
            config.tls_context()  # unusable TLS files are a usage error now, not a silent retry loop later
        return config

    def tls_context(self) -> ssl.SSLContext:
        """The client TLS context: system CAs (or $CREDWARDEN_MQTT_CA), hostname checked, optional client cert.
        UsageError when a file cannot serve (never a prompt on the terminal for an encrypted key)."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (ssl.SSLError, ValueError) as exc:
            raise UsageError(f"${ENV_CA} ({self.ca_file}) holds no usable CA certificate ({_reason(exc)})") from None
        if self.cert_file is not None and self.key_file is not None:
            asked: list[bool] = []

            def key_password() -> str:  # OpenSSL asks only for an encrypted key (instead of a terminal prompt)
                asked.append(True)
                if self.key_password is None:
                    raise UsageError(
                        f"${ENV_KEY} ({self.key_file}) is encrypted: put its password in ${ENV_KEY_PASSWORD}"
                    )
                return self.key_password

            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file), password=key_password)
            except ssl.SSLError as exc:
                why = f"wrong password in ${ENV_KEY_PASSWORD}?" if asked else _reason(exc)
                raise UsageError(
                    f"${ENV_CERT} ({self.cert_file}) and ${ENV_KEY} ({self.key_file}) are not a usable certificate "
                    f"and key ({why})"
                ) from None
        return context


def _reason(exc: Exception) -> str:
    """OpenSSL's short reason (`KEY_VALUES_MISMATCH`) in words, else the message; never file content."""
    reason = getattr(exc, "reason", None)
    if reason == "PEM_LIB" or (reason is None and "PEM lib" in str(exc)):
        return "not a PEM file of that kind"
    return reason.lower().replace("_", " ") if isinstance(reason, str) else str(exc)


def check_topic_filter(topic: str) -> str:
    """A subscription filter (shared subscriptions `$share/GROUP/...` included); UsageError when malformed."""
    levels = topic.split("/")
    body = levels[2:] if topic.startswith("$share/") else levels
    if not topic or (topic.startswith("$share/") and (len(levels) < 3 or not levels[1])):
        raise UsageError(f"--topic {topic!r} is not a topic filter (shared: $share/GROUP/cw/v1/+/report)")
    for index, level in enumerate(body):
        if ("#" in level and (level != "#" or index != len(body) - 1)) or ("+" in level and level != "+"):
            raise UsageError(f"--topic {topic!r}: wildcards + and # must fill a whole level (# only at the end)")
    return topic


def imei_in_topic(topic: str) -> str | None:
    """The 15-digit level of a report topic (`cw/v1/<imei>/report`), None when there is none."""
    found = [level for level in topic.split("/") if _IMEI_SEGMENT.match(level)]
    return found[0] if len(found) == 1 else None
