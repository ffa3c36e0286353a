"""Factory-line crypto cost per device: decode a %KEYGEN answer, verify it, sign the CSR with the local CA.

Prints per-operation figures (median of several rounds) and ratios side by side; run with
`.venv/bin/python bench/bench_keygen.py [--devices N]`. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from credwarden.creds.attest import decode_attestation
from credwarden.creds.ca import LocalCA
from credwarden.creds.csr import parse_keygen_response
from credwarden.sim.tokens import make_attestation_token, make_keygen_response


def _median_seconds(action: Callable[[], object], count: int, rounds: int = 5) -> float:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            action()
        timings.append((time.perf_counter() - start) / count)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=200, help="answers per round (default 200)")
    args = parser.parse_args()
    identity = ec.generate_private_key(ec.SECP256R1())
    device = ec.generate_private_key(ec.SECP256R1())
    answer = make_keygen_response(
        device, sec_tag=42, device_uuid=uuid.uuid4(), identity_key=identity, null_param_defect=True
    )
    token = make_attestation_token(
        device_uuid=uuid.uuid4(), device_type=4, firmware_uuid=uuid.uuid4(), identity_key=identity
    )
    with tempfile.TemporaryDirectory() as directory:
        ca = LocalCA.generate(directory, "bench CA")
    csr = x509.load_der_x509_csr(parse_keygen_response(42, answer).csr_der)
    public = identity.public_key()
    rows = [
        ("KEYGEN decode + repair + CSR signature check", lambda: parse_keygen_response(42, answer)),
        ("  ... plus COSE ES256 verification", lambda: parse_keygen_response(42, answer, identity_public_key=public)),
        ("ATTESTTOKEN decode", lambda: decode_attestation(token)),
        ("  ... plus COSE ES256 verification", lambda: decode_attestation(token, identity_public_key=public)),
        ("CA signs one CSR (verify CSR + issue cert)", lambda: ca.sign_csr(csr)),
    ]
    base = None
    print(f"{'operation':<48} {'per item':>12} {'per second':>12} {'ratio':>8}")
    for label, action in rows:
        seconds = _median_seconds(action, args.devices)
        base = base or seconds
        print(f"{label:<48} {seconds * 1e6:>9.0f} us {1 / seconds:>12.0f} {seconds / base:>7.2f}x")
    total = sum(_median_seconds(a, args.devices // 4 or 1) for _, a in (rows[1], rows[4]))
    print(f"{'whole factory step (verified decode + sign)':<48} {total * 1e6:>9.0f} us {1 / total:>12.0f}")


if __name__ == "__main__":
    main()
