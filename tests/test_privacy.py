"""Customer texts and names never reach the logs."""

import logging

import pytest

from tests.conftest import case_on, new_case
from workflows.case import CaseWorkflow

SECRET = "Kontonummer DE89370400440532013000 von Frau Geheimname"
NAME = "Frau Geheimname"


async def test_texts_and_names_stay_out_of_logs(
    time_env, policy, store, executor, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    case = new_case(customer={"id": "c-1", "name": NAME, "tier": "vip", "language": "de"})
    async with case_on(time_env, policy, store, executor, case) as driver:
        await driver.say(SECRET)
        await driver.say(f"Ich möchte einen Mitarbeiter sprechen. {SECRET}")
        await driver.accept("anna")
        await driver.say(SECRET, author="agent")
        # Malformed signals are dropped with a warning that must not quote the payload.
        await driver.handle.signal(CaseWorkflow.message, {"message_id": "bad", "text": SECRET})
        await driver.handle.signal(
            CaseWorkflow.message, {"message_id": "long", "author": "customer", "text": SECRET * 900}
        )
        await driver.resolve("anna", root_cause="other", escalation_necessary=True)
        result = await driver.handle.result()
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert result.message_count == 3
    assert "case documented" in logged  # the logs were captured at all
    assert "dropping the signal" in logged and "dropped: text is longer" in logged
    assert SECRET not in logged and NAME not in logged and "DE89370400440532013000" not in logged
    # Every activity log line names its case, workflow, state and level.
    documented = [line for line in logged.splitlines() if "case documented" in line]
    handed_off = [line for line in documented if "state=HANDOFF" in line]
    assert handed_off, documented
    assert f"workflow_id=case-{case.case_id}" in handed_off[0]
    assert "activity=document_case" in handed_off[0] and "escalation_level=2" in handed_off[0]
    deliveries = [line for line in logged.splitlines() if "notification delivery" in line]
    assert deliveries and all("activity=deliver_notifications" in line for line in deliveries)
