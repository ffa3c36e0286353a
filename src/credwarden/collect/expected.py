"""What the manifest (`--manifest`) expects of each device, resolved the way `apply` resolves it.

A manifest without per-device files is resolved once. One with `{imei}` / `{uuid}` files is resolved per
device on first sight and cached; a device whose files are missing or invalid gets no expectations (history
rules only) and the problem is reported once. `[[keygen]]` tables expect a key and a certificate (presence only:
the modem made them) and, with `write_ca`, the CA certificate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from credwarden.collect.health import DeviceExpectations, Expectation
from credwarden.creds.encoding import canonical_pem, equivalent_digests
from credwarden.errors import ValidationError
from credwarden.provision.manifest import Manifest, load_manifest
from credwarden.provision.plan import modem_slot
from credwarden.provision.resolve import DeviceIdentity, resolve_manifest, uses_placeholders
from credwarden.types import CredType

#: Devices whose resolved expectations are kept in memory.
CACHE_DEVICES = 100_000


@dataclass
class ManifestExpectations:
    """Expectations per IMEI from one manifest file (validated when created: ValidationError if unusable)."""

    path: Path
    manifest: Manifest = field(init=False)
    per_device: bool = field(init=False)
    problems: list[str] = field(default_factory=list)
    _shared: DeviceExpectations | None = field(init=False, default=None)
    _cache: OrderedDict[str, DeviceExpectations | None] = field(init=False, default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.manifest = load_manifest(self.path)
        self.per_device = uses_placeholders(self.manifest)
        if not self.per_device:
            self._shared = self._resolve(DeviceIdentity())

    def for_device(self, imei: str) -> DeviceExpectations | None:
        """The device's expectations; None when its per-device files cannot be resolved (reported once)."""
        if self._shared is not None:
            return self._shared
        if imei in self._cache:
            self._cache.move_to_end(imei)
            return self._cache[imei]
        try:
            found: DeviceExpectations | None = self._resolve(DeviceIdentity(imei=imei))
        except ValidationError as exc:
            found = None
            self.problems.append(f"device {imei}: manifest {self.manifest.name} cannot be resolved: {exc}")
        self._cache[imei] = found
        if len(self._cache) > CACHE_DEVICES:
            self._cache.popitem(last=False)
        return found

    def take_problems(self) -> list[str]:
        problems, self.problems = self.problems, []
        return problems

    def _resolve(self, identity: DeviceIdentity) -> DeviceExpectations:
        slots: dict[tuple[int, int], Expectation] = {}
        for item in resolve_manifest(self.manifest, identity):
            slot = modem_slot(item.sec_tag, int(item.type), item.options.native_tls)
            forms = equivalent_digests(item.credential.content)
            digests = frozenset(d.upper() for d in forms.values())
            slots[slot] = Expectation(slot[0], slot[1], digests, next(iter(forms.values())).upper())
        for keygen in self.manifest.spec.keygen:
            for code in (CredType.CLIENT_KEY, CredType.CLIENT_CERT):
                slots.setdefault((keygen.sec_tag, int(code)), Expectation(keygen.sec_tag, int(code), None))
            if keygen.write_ca:
                ca = keygen.resolved(self.manifest.base_dir).ca_cert
                forms = equivalent_digests(canonical_pem(ca.read_bytes()))
                digests = frozenset(d.upper() for d in forms.values())
                shown = next(iter(forms.values())).upper()
                slots.setdefault((keygen.sec_tag, 0), Expectation(keygen.sec_tag, 0, digests, shown))
        return DeviceExpectations(slots)
