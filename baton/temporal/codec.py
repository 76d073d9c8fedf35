"""Payload encryption: nothing readable of a case reaches the Temporal server.

:class:`EncryptionCodec` encrypts every payload (workflow inputs, updates, activity
inputs and results, query answers, memo) with AES-256-GCM before it leaves the worker
or client, and decrypts on the way back. Keys come from the environment:

    BATON_ENCRYPTION_KEYS="2026-11:<base64 of 32 bytes>,2026-05:<base64 of 32 bytes>"

The first key encrypts; every listed key decrypts (each payload names its key id), so
rotating means putting a new key first and keeping the old ones until the histories
they encrypted are gone. Generate a key with ``baton codec new-key``.

Search attributes are not payloads of this kind and stay readable: they hold states,
levels, severities, teams and reason names only, never customer text.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class EncryptionKeyError(ValueError):
    """The encryption keys are missing, malformed, or lack the id a payload names."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """``id:base64,id:base64`` -> {id: key}, first entry first; :class:`EncryptionKeyError` names
    the entry that is wrong."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise EncryptionKeyError(f"encryption key {n + 1}: expected <id>:<base64 key>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise EncryptionKeyError(f"encryption key {key_id!r}: not base64") from None
        if len(key) != 32:
            raise EncryptionKeyError(
                f"encryption key {key_id!r}: {len(key)} bytes, AES-256 needs 32"
            )
        if key_id in keys:
            raise EncryptionKeyError(f"encryption key {key_id!r} is listed twice")
        keys[key_id] = key
    if not keys:
        raise EncryptionKeyError("no encryption keys given")
    return keys


def new_key() -> str:
    """A fresh random AES-256 key, base64."""
    return base64.b64encode(os.urandom(32)).decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload, the key id in the payload's metadata."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        """Encrypt with the first of ``keys``; decrypt with any."""
        if not keys:
            raise EncryptionKeyError("no encryption keys given")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = next(iter(keys))

    @classmethod
    def from_spec(cls, spec: str) -> EncryptionCodec:
        """A codec for ``BATON_ENCRYPTION_KEYS``-style text."""
        return cls(parse_keys(spec))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt what this codec encrypted; pass anything else through."""
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted."""
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.active_key_id
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted; :class:`EncryptionKeyError` if its key is not here or it was
        tampered with."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise EncryptionKeyError(
                f"payload encrypted with key {key_id!r}, which is not configured"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise EncryptionKeyError(f"payload does not decrypt with key {key_id!r}") from None
        return Payload.FromString(plain)


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    """``converter`` with ``codec`` (unchanged if None)."""
    return dataclasses.replace(converter, payload_codec=codec) if codec else converter
