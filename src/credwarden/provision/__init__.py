"""Provisioning from a manifest: manifest (pydantic) -> validation -> plan -> apply -> verify -> report."""

from __future__ import annotations

from credwarden.provision.apply import ActionResult, ApplyReport, apply, plan
from credwarden.provision.manifest import Manifest, ManifestError, ManifestSpec, load_manifest, manifest_json_schema
from credwarden.provision.plan import Plan, PlannedAction, make_plan
from credwarden.provision.resolve import DesiredCredential, DeviceIdentity, resolve_manifest

__all__ = [
    "ActionResult",
    "ApplyReport",
    "DesiredCredential",
    "DeviceIdentity",
    "Manifest",
    "ManifestError",
    "ManifestSpec",
    "Plan",
    "PlannedAction",
    "apply",
    "load_manifest",
    "make_plan",
    "manifest_json_schema",
    "plan",
    "resolve_manifest",
]
