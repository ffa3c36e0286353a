"""Errno numbering schemes an nRF91 application log may use, and what each name means for credentials.

The modem library changed numbering (modem-behaviour.md#errno-numbering). bsdlib (NCS <= ~1.4) used a BSD-style
`nrf_errno.h`;
nrf_modem >= 1.0 (NCS >= ~1.5) uses the IEEE/newlib numbering that Zephyr also uses.
The Linux table covers host-side tools and `native_sim` builds; bsdlib took its 112-129 values from it.
Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrnoScheme:
    """One numbering of errno values."""

    key: str
    label: str
    codes: dict[int, tuple[str, str]]  #: number -> (name, description)


#: nrf_modem >= 1.0 / Zephyr (newlib numbering) — sdk-nrfxlib nrf_modem/include/nrf_errno.h.
NRF_MODEM = ErrnoScheme(
    "nrf_modem",
    "nrf_modem >= 1.0 / Zephyr (NCS >= ~1.5)",
    {
        1: ("EPERM", "operation not permitted"),
        2: ("ENOENT", "no such entry"),
        5: ("EIO", "I/O error"),
        7: ("E2BIG", "argument list / response too big"),
        8: ("ENOEXEC", "executable format error"),
        9: ("EBADF", "bad file (socket) descriptor"),
        11: ("EAGAIN", "resource unavailable, try again"),
        12: ("ENOMEM", "not enough memory / space"),
        13: ("EACCES", "permission denied"),
        14: ("EFAULT", "bad address"),
        16: ("EBUSY", "device or resource busy"),
        17: ("EEXIST", "already exists"),
        22: ("EINVAL", "invalid argument"),
        23: ("ENFILE", "too many files open in system"),
        24: ("EMFILE", "too many open sockets/files"),
        28: ("ENOSPC", "no space left on device"),
        35: ("ENOMSG", "no message of the desired type"),
        45: ("EDEADLK", "resource deadlock would occur"),
        60: ("ENOSTR", "not a stream"),
        61: ("ENODATA", "no data available"),
        62: ("ETIME", "timer expired"),
        71: ("EPROTO", "protocol error"),
        77: ("EBADMSG", "bad message"),
        88: ("ENOSYS", "function not supported"),
        95: ("EOPNOTSUPP", "operation not supported on socket"),
        104: ("ECONNRESET", "connection reset by peer"),
        105: ("ENOBUFS", "no buffer space available"),
        106: ("EAFNOSUPPORT", "address family not supported"),
        107: ("EPROTOTYPE", "protocol wrong type for socket"),
        108: ("ENOTSOCK", "not a socket"),
        109: ("ENOPROTOOPT", "protocol option not available"),
        110: ("ESHUTDOWN", "cannot send after socket shutdown"),
        111: ("ECONNREFUSED", "connection refused"),
        112: ("EADDRINUSE", "address in use"),
        113: ("ECONNABORTED", "connection aborted"),
        114: ("ENETUNREACH", "network unreachable"),
        115: ("ENETDOWN", "network is down"),
        116: ("ETIMEDOUT", "connection timed out"),
        117: ("EHOSTDOWN", "host is down"),
        118: ("EHOSTUNREACH", "host is unreachable"),
        119: ("EINPROGRESS", "operation in progress"),
        120: ("EALREADY", "operation already in progress"),
        121: ("EDESTADDRREQ", "destination address required"),
        122: ("EMSGSIZE", "message too large"),
        123: ("EPROTONOSUPPORT", "protocol not supported"),
        124: ("ESOCKTNOSUPPORT", "socket type not supported"),
        125: ("EADDRNOTAVAIL", "address not available"),
        126: ("ENETRESET", "connection aborted by network"),
        127: ("EISCONN", "socket is connected"),
        128: ("ENOTCONN", "socket is not connected"),
        129: ("ETOOMANYREFS", "too many references"),
        134: ("ENOTSUP", "not supported"),
        138: ("EILSEQ", "illegal byte sequence"),
        139: ("EOVERFLOW", "value too large"),
        140: ("ECANCELED", "operation canceled"),
    },
)

#: bsdlib <= 0.8 (NCS <= ~1.4), BSD-style nrf_errno.h.
BSDLIB = ErrnoScheme(
    "bsdlib",
    "bsdlib (NCS <= ~1.4, BSD-style numbering)",
    {
        1: ("EPERM", "operation not permitted"),
        2: ("ENOENT", "no such entry"),
        5: ("EIO", "I/O error"),
        9: ("EBADF", "bad file (socket) descriptor"),
        12: ("ENOMEM", "not enough memory"),
        13: ("EACCES", "permission denied"),
        14: ("EFAULT", "bad address"),
        22: ("EINVAL", "invalid argument"),
        24: ("EMFILE", "too many open sockets"),
        35: ("EAGAIN", "resource temporarily unavailable"),
        41: ("EPROTOTYPE", "protocol wrong type for socket"),
        42: ("ENOPROTOOPT", "protocol not available"),
        43: ("EPROTONOSUPPORT", "protocol not supported"),
        44: ("ESOCKTNOSUPPORT", "socket type not supported"),
        45: ("EOPNOTSUPP", "operation not supported on socket"),
        47: ("EAFNOSUPPORT", "address family not supported"),
        48: ("EADDRINUSE", "address already in use"),
        50: ("ENETDOWN", "network is down"),
        51: ("ENETUNREACH", "network is unreachable"),
        54: ("ECONNRESET", "connection reset by peer"),
        56: ("EISCONN", "socket is already connected"),
        57: ("ENOTCONN", "socket is not connected"),
        60: ("ETIMEDOUT", "connection timed out"),
        105: ("ENOBUFS", "no buffer space available"),
        112: ("EHOSTDOWN", "host is down"),
        115: ("EINPROGRESS", "operation in progress"),
        125: ("ECANCELED", "operation canceled"),
        126: ("ENOKEY", "required key not available"),
        127: ("EKEYEXPIRED", "key has expired"),
        128: ("EKEYREVOKED", "key has been revoked"),
        129: ("EKEYREJECTED", "key was rejected by service"),
    },
)

#: Linux / glibc numbering (host tools, native_sim builds). Subset relevant to sockets, TLS and key management.
LINUX = ErrnoScheme(
    "linux",
    "Linux / glibc numbering (host tools, native_sim builds)",
    {
        1: ("EPERM", "operation not permitted"),
        2: ("ENOENT", "no such file or directory"),
        5: ("EIO", "I/O error"),
        7: ("E2BIG", "argument list too long"),
        11: ("EAGAIN", "resource temporarily unavailable"),
        12: ("ENOMEM", "cannot allocate memory"),
        13: ("EACCES", "permission denied"),
        17: ("EEXIST", "file exists"),
        22: ("EINVAL", "invalid argument"),
        71: ("EPROTO", "protocol error"),
        74: ("EBADMSG", "bad message"),
        95: ("EOPNOTSUPP", "operation not supported"),
        101: ("ENETUNREACH", "network is unreachable"),
        103: ("ECONNABORTED", "software caused connection abort"),
        104: ("ECONNRESET", "connection reset by peer"),
        105: ("ENOBUFS", "no buffer space available"),
        110: ("ETIMEDOUT", "connection timed out"),
        111: ("ECONNREFUSED", "connection refused"),
        112: ("EHOSTDOWN", "host is down"),
        113: ("EHOSTUNREACH", "no route to host"),
        114: ("EALREADY", "operation already in progress"),
        115: ("EINPROGRESS", "operation now in progress"),
        125: ("ECANCELED", "operation canceled"),
        126: ("ENOKEY", "required key not available"),
        127: ("EKEYEXPIRED", "key has expired"),
        128: ("EKEYREVOKED", "key has been revoked"),
        129: ("EKEYREJECTED", "key was rejected by service"),
    },
)

#: In the order interpretations are listed (most common in current logs first).
SCHEMES: tuple[ErrnoScheme, ...] = (NRF_MODEM, BSDLIB, LINUX)


@dataclass(frozen=True)
class CredentialCause:
    """What an errno name says about the credentials, and the credwarden command that checks it."""

    related: bool  #: False: the name points away from credentials (network, coverage, programming error)
    cause: str
    check: str | None


_DOCTOR = "credwarden doctor MANIFEST --port PORT"
_LIST = "credwarden list --port PORT --tag SEC_TAG"

#: Keyed by errno name; applies whichever scheme produced the name. modem-behaviour.md#errno-numbering, #cme-codes.
CAUSES: dict[str, CredentialCause] = {
    "ECONNREFUSED": CredentialCause(
        True,
        "nrf_modem >= 1.1.0 reports a failed TLS handshake this way: a missing certificate, a wrong certificate "
        "or a wrong private key in the sec_tag the socket uses. Also: the server refused the TCP "
        "connection (wrong port/host) — rule that out first if the handshake never started.",
        _DOCTOR,
    ),
    "EOPNOTSUPP": CredentialCause(
        True,
        "bsdlib-era TLS handshake failure (the classic 'MQTT connect error -45'): credentials missing or vanished "
        "from the modem (pre-1.0 file-system losses), a wrong CA, or a sec_tag without the key/cert "
        "the socket expects; also seen as -95 with placeholder-digest firmware.",
        _DOCTOR + "; watch for disappearing entries with `credwarden canary`",
    ),
    "ECONNABORTED": CredentialCause(
        True,
        "the TLS handshake was aborted: typically the modem rejected the server certificate (root CA in the "
        "sec_tag does not match the server's chain: 'unknown CA' alert) or the server rejected the "
        "client certificate. INFERRED from the handshake flow.",
        _DOCTOR,
    ),
    "ECONNRESET": CredentialCause(
        True,
        "the server closed the connection during or after the handshake: often a client certificate the server "
        "does not know (not registered, wrong account/region, revoked). INFERRED.",
        _DOCTOR,
    ),
    "ENOKEY": CredentialCause(
        True,
        "the modem found no key for the sec_tag the socket uses: the private key (type 2) or PSK (type 3) is missing.",
        _LIST,
    ),
    "EKEYEXPIRED": CredentialCause(
        True,
        "a certificate has expired (or is not yet valid: check the modem's clock/network time).",
        _DOCTOR + " (reports %CERTEXPIRY / read-back expiry)",
    ),
    "EKEYREVOKED": CredentialCause(True, "a certificate or key was revoked by the service.", _DOCTOR),
    "EKEYREJECTED": CredentialCause(
        True,
        "the peer rejected the key or certificate: wrong client certificate/key pair, or a CA the server does "
        "not trust.",
        _DOCTOR,
    ),
    "ECANCELED": CredentialCause(
        True,
        "modem_key_mgmt returns -ECANCELED for CME 528: a latched power-off warning blocks NVM updates (and, per "
        "Nordic support, reads) of credentials. In nrf_modem socket calls it can also mean the "
        "operation was cancelled by a modem shutdown.",
        _DOCTOR + " (power-off warning probe)",
    ),
    "EPERM": CredentialCause(
        True,
        "from modem_key_mgmt: CME 518, the modem is online (CFUN 1/2/21) so writes/deletes are refused; on "
        "NCS <= ~1.7 the mapping was swapped and EPERM meant CME 514 (no access).",
        "credwarden doctor --port PORT (CFUN state)",
    ),
    "EACCES": CredentialCause(
        True,
        "from modem_key_mgmt/tls_credentials: CME 514, the entry cannot be read back (types 1, 2, 3) or is "
        "modem-owned; on NCS <= ~1.7 it meant CME 518 (modem online).",
        "verify by digest: " + _LIST,
    ),
    "ENOENT": CredentialCause(True, "from modem_key_mgmt: CME 513, no credential with this sec_tag and type.", _LIST),
    "ENOMEM": CredentialCause(
        True,
        "from modem_key_mgmt: CME 515, the credential store is full; or the caller's buffer was too small for a read.",
        "credwarden list --port PORT",
    ),
    "EALREADY": CredentialCause(
        True, "from modem_key_mgmt: CME 519, the entry exists and cannot be overwritten.", _LIST
    ),
    "EEXIST": CredentialCause(
        True,
        "from tls_credentials (nrf_modem backend): the credential already exists in the modem with different "
        "content and was not written.",
        _DOCTOR,
    ),
    "EINVAL": CredentialCause(
        True,
        "from modem_key_mgmt: CME 527 (certificate content rejected, mfw 2.0.2+) or CME 50 (bad parameters), "
        "or an empty credential buffer.",
        "credwarden plan MANIFEST (validates PEM before writing)",
    ),
    "E2BIG": CredentialCause(
        True,
        "the AT response did not fit the buffer (CME 23 or nrf_modem -E2BIG): a credential larger than the "
        "application's AT buffer, e.g. a CA chain near 4 kB.",
        _DOCTOR + " (buffer-size check)",
    ),
    "EIO": CredentialCause(
        True, "from modem_key_mgmt: CME 0, command unsupported by this firmware.", "credwarden info"
    ),
    "ENOEXEC": CredentialCause(True, "from modem_key_mgmt: CME 60, modem system error.", "credwarden info"),
    "ENOBUFS": CredentialCause(
        True,
        "modem_key_mgmt_list(): the credential list did not fit the buffer (many entries); otherwise socket "
        "buffers are exhausted (not credentials).",
        "credwarden list --port PORT",
    ),
}

#: Names that point away from credentials.
NOT_CREDENTIAL: dict[str, str] = {
    "ETIMEDOUT": "usually coverage or server reachability, not credentials (a handshake that fails on credentials "
    "is refused or aborted, not timed out)",
    "EHOSTUNREACH": "routing/DNS/network problem, not credentials",
    "EHOSTDOWN": "the host is down, not a credential problem",
    "ENETUNREACH": "no network (not registered, no PDN), not credentials",
    "ENETDOWN": "the LTE link is down, not credentials",
    "EAGAIN": "a non-blocking call would block; retry, not credentials",
    "EINPROGRESS": "a non-blocking connect is in progress, not an error by itself",
}
