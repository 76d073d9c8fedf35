"""Hostile input, property-based (Hypothesis): random and adversarial edits of every
wire payload and of the config, directory and notification files.

Each is either accepted or rejected with a validation error that names the key; no
other exception escapes, and no error quotes the input (it may be a customer's text).
The workflow-level tests (tests/test_case_bad_input.py) show that the same rejections
at the wire leave the case unchanged and its workflow task unstuck.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from baton.notify.config import NotificationConfig
from baton.settings import DEFAULT_CONFIG, DEFAULT_NOTIFICATIONS, ConfigError, read_toml
from domain.directory import Directory
from domain.models import WIRE_PAYLOADS, WireModel
from domain.policy import EscalationPolicy

MARKER = "Zx9-private-customer-words"
"""Planted in hostile values: an error message must never repeat it."""

VALID: dict[str, dict[str, Any]] = {
    "CaseInput": {
        "case_id": "C-1001",
        "customer": {"id": "cust-1", "name": "Ada", "tier": "vip", "language": "de"},
        "channel": "chat",
        "subject": "Zahlung doppelt abgebucht",
    },
    "IncomingMessage": {"message_id": "m1", "author": "customer", "text": "hi", "amount": 12.5},
    "AcceptRequest": {"agent_id": "anna"},
    "DeclineRequest": {"agent_id": "anna", "reason": "busy"},
    "ConsultAnswer": {"by": "ingrid", "reason": "innovation_request", "answer": "on the roadmap"},
    "EscalateRequest": {"by": "lead", "reason": "stuck"},
    "ResolveRequest": {"by": "anna", "resolution": "refunded", "escalation_necessary": True},
    "FollowUpRequest": {"by": "anna", "root_cause": "billing_error", "timing": "on_time"},
    "RetentionRequest": {"days": 30},
    "LearningRequest": {"days": 30, "until": "2026-11-30", "auto_apply": False},
}
INBOUND = {name: model for name, model in WIRE_PAYLOADS.items() if issubclass(model, WireModel)}

EDGE_TEXTS = [
    MARKER,
    MARKER * 20_000,  # far over every length limit
    f"\u202e{MARKER}\u202c",  # right-to-left override
    f"{MARKER}\u200b\u200d\ufeff",  # zero-width characters
    f"{MARKER} 👩‍👩‍👧‍👦🏳️‍🌈",  # emoji sequences
    f"e\u0301\u0301\u0301{MARKER}",  # stacked combining marks
    f"{MARKER}\x00\x07\x1b[2J",  # NUL, bell, terminal escape
    f"{{{MARKER}}} {{0}} {{name.__class__}}",  # format placeholders
    f"<script>{MARKER}</script>",
]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(EDGE_TEXTS)
    | st.sampled_from([[], {}]),
    # Containers hold at least one value, so max_leaves bounds the depth too (the
    # deep nesting a JSON parser must refuse is tested on its own, below).
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in _leaf_paths(v, (*path, k))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in _leaf_paths(v, (*path, i))]
    return [path]


@st.composite
def edited(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with one value replaced, one key added or one key removed."""
    out = copy.deepcopy(document)
    path = draw(st.sampled_from(_leaf_paths(out)))
    value = draw(json_values)
    action = draw(st.sampled_from(["replace", "add", "remove"]))
    if not path:
        return out if action != "replace" else {"root": value}
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "add" and isinstance(parent, dict):
        parent[f"unknown_{draw(st.text(max_size=5))}"] = value
    elif action == "remove":
        del parent[last]
    return out


def _rejects_clearly(model: type[BaseModel], document: Any, quiet: bool) -> None:
    """Validated as an object and as the JSON the wire carries: a rejection names a
    problem without quoting the input, and JSON never accepts what the object check
    refused."""
    verdicts = []
    for validate in (model.model_validate, lambda d: model.model_validate_json(json.dumps(d))):
        try:
            validate(document)
            verdicts.append(True)
        except ValidationError as err:
            assert err.errors(), "a rejection names at least one problem"
            if quiet:
                assert MARKER not in str(err), "the error quotes the input"
            verdicts.append(False)
    # NaN and infinity are not JSON: the wire may refuse what an object still passes.
    assert verdicts[0] or not verdicts[1], "JSON accepted what the object check refused"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wire_payloads_reject_garbage_without_quoting_it(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(INBOUND)))
    document = data.draw(edited(VALID[name]))
    _rejects_clearly(INBOUND[name], document, quiet=True)


@pytest.mark.parametrize("name", sorted(INBOUND))
def test_every_inbound_payload_has_a_valid_example(name: str) -> None:
    assert INBOUND[name].model_validate(VALID[name]) is not None


@pytest.mark.parametrize("name", sorted(INBOUND))
def test_deeply_nested_values_are_rejected_by_key(name: str) -> None:
    """Nested far deeper than any interpreter's recursion limit, as it comes off the wire."""
    deep = "[" * 5_000 + json.dumps(MARKER) + "]" * 5_000
    for field in INBOUND[name].model_fields:
        others = {k: v for k, v in VALID[name].items() if k != field}
        raw = json.dumps(others)[:-1] + ("," if others else "") + f'"{field}": {deep}}}'
        with pytest.raises(ValidationError) as rejected:
            INBOUND[name].model_validate_json(raw)
        assert MARKER not in str(rejected.value)
        assert "recursion limit" in str(rejected.value)


@pytest.mark.parametrize("name", sorted(INBOUND))
def test_raw_json_of_any_shape_is_rejected_as_validation(name: str) -> None:
    for raw in ["", "{", "[]", "null", '"x"', "{" * 5000 + "}" * 5000, '{"a": 1e999999}']:
        with pytest.raises(ValidationError):
            INBOUND[name].model_validate_json(raw)


def _document(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


POLICY_FILE = _document(DEFAULT_CONFIG)
DIRECTORY_FILE = _document(DEFAULT_CONFIG.parent / "directory.toml")
NOTIFICATIONS_FILE = _document(DEFAULT_NOTIFICATIONS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_config_files_reject_bad_edits_by_key(data: st.DataObject) -> None:
    model, document = data.draw(
        st.sampled_from(
            [
                (EscalationPolicy, POLICY_FILE),
                (Directory, DIRECTORY_FILE),
                (NotificationConfig, NOTIFICATIONS_FILE),
            ]
        )
    )
    _rejects_clearly(model, data.draw(edited(document)), quiet=False)


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_a_config_file_of_any_bytes_is_a_config_error(
    content: bytes, tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("config") / "escalation.toml"
    path.write_bytes(content)
    try:
        read_toml(path, EscalationPolicy)
    except ConfigError as err:
        assert str(path) in str(err)
