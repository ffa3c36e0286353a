"""Run Nordic's nrfcredstore CLI against a pty it cannot enumerate (executed with the .interop-venv python).

nrfcredstore only opens ports that pyserial lists; like its own tests, replace `comms.select_device` so it
returns `(ListPortInfo(path), None)`. Usage: python nrfcredstore_driver.py <pty> <nrfcredstore args...>
"""

from __future__ import annotations

import sys

import nrfcredstore.comms as comms
from serial.tools.list_ports_common import ListPortInfo


def _select_device(rtt: bool, serial_number: object, port: str, list_all: bool) -> tuple[ListPortInfo, None]:
    return ListPortInfo(port), None


comms.select_device = _select_device

from nrfcredstore.cli import run  # noqa: E402  (after the patch on purpose)

if __name__ == "__main__":
    run(["nrfcredstore", *sys.argv[1:]])
