"""Payload encryption: nothing readable of a case reaches the Temporal server's
database, and the codec server decrypts only for holders of a token."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from baton.temporal.codec import (
    EncryptionCodec,
    EncryptionKeyError,
    new_key,
    parse_keys,
    with_codec,
)
from baton.temporal.codec_server import codec_app
from tests.conftest import new_case, running_worker, start_case
from tests.servers import free_port
from workflows.case import CaseWorkflow

OLD, NEW = f"old:{new_key()}", f"new:{new_key()}"


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_round_trip_rotation_and_tampering() -> None:
    old = EncryptionCodec.from_spec(OLD)
    [sealed] = await old.encode([_payload("Meine IBAN")])
    assert sealed.metadata["encoding"] == b"binary/encrypted" and b"IBAN" not in sealed.data
    assert sealed.metadata["encryption-key-id"] == b"old"
    rotated = EncryptionCodec.from_spec(f"{NEW},{OLD}")  # new key first, old kept
    assert (await rotated.decode([sealed]))[0].data == b'"Meine IBAN"'
    assert (await rotated.encode([_payload("x")]))[0].metadata["encryption-key-id"] == b"new"
    with pytest.raises(EncryptionKeyError, match="key 'old', which is not configured"):
        await EncryptionCodec.from_spec(NEW).decode([sealed])
    forged = Payload()
    forged.CopyFrom(sealed)
    forged.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(EncryptionKeyError, match="does not decrypt"):
        await old.decode([forged])
    plain = _payload("not encrypted")
    assert (await old.decode([plain]))[0] == plain


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("", "no encryption keys"),
        ("k1", "expected <id>:<base64 key>"),
        ("k1:@@@", "'k1': not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes, AES-256 needs 32"),
        (f"{OLD},{OLD}", "'old' is listed twice"),
    ],
)
def test_bad_keys_name_the_problem(spec: str, named: str) -> None:
    with pytest.raises(EncryptionKeyError, match=named.replace("(", r"\(")):
        parse_keys(spec)


def _on_disk(dev_db: Path) -> bytes:
    """Everything the dev server has written to disk (its SQLite file and WAL)."""
    return b"".join(p.read_bytes() for p in dev_db.parent.glob("temporal.db*"))


@pytest.fixture
async def encrypted_client(dev_env: Any) -> AsyncIterator[Client]:
    plain = dev_env.client
    yield await Client.connect(
        plain.service_client.config.target_host,
        namespace=plain.namespace,
        data_converter=with_codec(pydantic_data_converter, EncryptionCodec.from_spec(OLD)),
    )


async def test_the_server_stores_no_plaintext_and_the_codec_server_decrypts_for_tokens(
    dev_env: Any, dev_db: Path, encrypted_client: Client, policy: Any, store: Any, executor: Any
) -> None:
    marker = f"IBAN DE89 {uuid.uuid4().hex}"
    name = f"Ada {uuid.uuid4().hex[:8]}"
    case = new_case(customer={"id": "cust-1", "name": name, "language": "de"})
    async with running_worker(encrypted_client, policy, store, executor) as worker:
        handle = await start_case(encrypted_client, worker, case)
        await handle.execute_update(
            "post_message", {"message_id": "m1", "author": "customer", "text": marker}
        )
        view = await handle.query(CaseWorkflow.state)
        assert view.recent_messages[0].text == marker  # readable through the codec
        raw = await dev_env.client.get_workflow_handle(handle.id).fetch_history()
        await handle.terminate()

    # A control case without the codec: its words are in the server's files...
    control = f"plain {uuid.uuid4().hex}"
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        plain = await start_case(dev_env.client, worker, new_case())
        await plain.execute_update(
            "post_message", {"message_id": "m1", "author": "customer", "text": control}
        )
        await plain.terminate()
    disk = _on_disk(dev_db)
    assert control.encode() in disk
    # ... the encrypted case's are not, nor the customer's name.
    assert marker.encode() not in disk and name.encode() not in disk

    payloads = _payloads(raw.to_json_dict())
    unencrypted = [p for p in payloads if p.metadata["encoding"] != b"binary/encrypted"]
    # Only the log-context headers travel in the clear: a state and a level, nothing else.
    assert payloads and all(
        set(json.loads(p.data)) == {"state", "escalation_level"} for p in unencrypted
    )
    assert not any(marker.encode() in p.data or name.encode() in p.data for p in payloads)

    # What a browser or the temporal CLI does with the codec server.
    codec = EncryptionCodec.from_spec(OLD)
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    async with _codec_server(codec, tokens=["s3cret"]) as url, httpx.AsyncClient() as http:
        allowed = await http.post(f"{url}/decode", content=body, headers=_bearer("s3cret"))
        missing = await http.post(f"{url}/decode", content=body)
        wrong = await http.post(f"{url}/decode", content=body, headers=_bearer("guess"))
        preflight = await http.options(f"{url}/decode", headers={"Origin": "http://localhost:8233"})
        foreign = await http.options(f"{url}/decode", headers={"Origin": "https://evil.test"})
    assert allowed.status_code == 200
    decoded = json_format.Parse(allowed.text, Payloads()).payloads
    assert any(marker.encode() in p.data for p in decoded)
    assert any(name.encode() in p.data for p in decoded)
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert marker not in missing.text + wrong.text
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in foreign.headers

    other_key = _codec_server(EncryptionCodec.from_spec(NEW), tokens=["s3cret"])
    async with other_key as url, httpx.AsyncClient() as http:
        other = await http.post(f"{url}/decode", content=body, headers=_bearer("s3cret"))
    assert other.status_code == 400 and "key 'old', which is not configured" in other.text


def test_a_codec_server_without_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        codec_app(EncryptionCodec.from_spec(OLD), [""], [])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _payloads(history: dict[str, Any]) -> list[Payload]:
    """Every payload with data in a history's JSON, except search attributes (indexed by
    the server, so readable by design: states, levels, teams, reason names), the SDK's
    own patch markers (a patch id) and a local activity marker's ``data`` (the SDK's
    bookkeeping: sequence, attempt, activity type, times; its result is encrypted)."""
    found: list[Payload] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict) and node.get("markerName") == "core_patch":
            return
        if isinstance(node, dict) and node.get("markerName") == "core_local_activity":
            details = node.get("details", {})
            walk({key: value for key, value in details.items() if key != "data"})
            return
        if isinstance(node, dict):
            if "data" in node and "metadata" in node and isinstance(node["data"], str):
                found.append(json_format.ParseDict(node, Payload()))
                return
            for key, value in node.items():
                if key != "searchAttributes":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(history)
    return found


class _codec_server:
    """The codec server on a free loopback port for the length of a ``with``."""

    def __init__(self, codec: EncryptionCodec, tokens: list[str]) -> None:
        self.app = codec_app(codec, tokens, ["http://localhost:8233"])
        self.port = free_port()

    async def __aenter__(self) -> str:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()
