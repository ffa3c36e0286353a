"""`delete-all` touches user tags only and goes on past a refusal, reporting every entry (scripted modem)."""

from __future__ import annotations

from credwarden.modem.device import Device
from credwarden.transport.scripted import ScriptedTransport, answer_table

SHA = "B9BAC15641653CAE2B5151DCBD0C40DDCDF19125950FA2475977437EA35F7A45"
LISTING = (
    f'%CMNG: 1,0,"{SHA}"\r\n%CMNG: 2,2,"{SHA}"\r\n%CMNG: 2147483647,4,"{SHA}"\r\n'
    f'%CMNG: 2147483648,0,"{SHA}"\r\n%CMNG: 4294967292,11,"{SHA}"\r\n%CMNG: 4294967293,10,"{SHA}"\r\nOK\r\n'
)


def test_delete_all_continues_past_a_refusal_and_spares_reserved_tags() -> None:
    answers = {
        "AT": "OK\r\n",
        "AT+CMEE=1": "OK\r\n",
        "AT+CMEE=0": "OK\r\n",
        "AT+CFUN=4": "OK\r\n",
        "AT+CFUN=1": "OK\r\n",
        "AT%CMNG=1": LISTING,
        "AT%CMNG=3,1,0": "OK\r\n",
        "AT%CMNG=3,2,2": "+CME ERROR: 528\r\n",  # power-off warning latched: refused
        "AT%CMNG=3,2147483647,4": "OK\r\n",
    }
    table = answer_table(answers, default="+CME ERROR: 50\r\n")
    state = {"+CMEE": 0, "+CFUN": 1}  # remembered like a modem: reads answer what was last set

    def respond(data: bytes) -> bytes:
        command = data.decode().strip()
        for name, value in state.items():
            if command == f"AT{name}?":
                return f"{name}: {value}\r\nOK\r\n".encode()
            if command.startswith(f"AT{name}="):
                state[name] = int(command.split("=")[1])
        return table(data)

    transport = ScriptedTransport(respond)
    with Device.over(transport, mode="at_client") as dev:
        outcomes = dev.delete_all()
    assert [(o.sec_tag, o.type, o.deleted, o.code) for o in outcomes] == [
        (1, 0, True, None),
        (2, 2, False, 528),
        (2147483647, 4, True, None),
    ]
    assert "power" in (outcomes[1].error or "").lower()
    sent = [w.decode().strip() for w in transport.written]
    assert not [c for c in sent if c.startswith("AT%CMNG=3,") and int(c.split(",")[1]) > 2147483647]
    assert sent.index("AT+CFUN=1") > sent.index("AT%CMNG=3,2147483647,4")  # CFUN restored after the last delete
    assert sent[-1] == "AT+CMEE=0"  # CMEE restored at close
