"""The ``baton`` console script against the real dev server and worker."""

import asyncio
import json
import shutil
import sys
import tomllib
from pathlib import Path

from baton.settings import DEFAULT_NOTIFICATIONS
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from domain.directory import Presence
from domain.models import Assessment, CaseView
from domain.states import CaseState
from tests.conftest import ask_management_approval, new_case, running_worker
from tests.test_lifecycle_dev_server import _eventually, _has

BATON = shutil.which("baton", path=str(Path(sys.executable).parent)) or "baton"


async def _baton(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 60
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        BATON,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_case_start_message_show(dev_env, cli_env, policy, store, executor) -> None:
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        env = cli_env | {"BATON_TASK_QUEUE": worker.task_queue}
        case_id = f"C-cli-{worker.task_queue[-8:]}"
        start = ["case", "start", case_id, "--subject", "Zahlung doppelt", "--customer-id", "c-9"]
        code, out, err = await _baton(env, *start, "--language", "de", "--tier", "vip")
        assert code == 0, err
        assert f"started case {case_id}" in out

        code, _, err = await _baton(env, *start)
        assert code == 1 and "already running" in err

        code, out, err = await _baton(
            env, "case", "message", case_id, "-", "--json", "--id", "m1", stdin="Das ist Betrug!"
        )
        assert code == 0, err
        assessment = Assessment.model_validate_json(out)
        assert assessment.state is CaseState.HANDOFF and assessment.reasons[0].name == "fraud"

        code, out, err = await _baton(env, "case", "show", case_id, "--json")
        assert code == 0, err
        view = CaseView.model_validate(json.loads(out))
        assert (view.state, view.assigned_team, view.offered_to) == (
            CaseState.HANDOFF,
            "compliance",
            "ingrid",
        )

        code, out, err = await _baton(env, "case", "show", case_id)
        assert code == 0 and "HANDOFF" in out and "acceptance timeout, critical" in out

        code, _, err = await _baton(env, "case", "decline", case_id, "jonas")
        assert code == 1 and "offered to ingrid, not to the agent asking" in err
        code, _, err = await _baton(
            env, "case", "consult-answer", case_id, "no consult", "--by", "x", "--reason", "fraud"
        )
        assert code == 1 and "no consult on 'fraud'" in err

        code, _, err = await _baton(env, "case", "accept", case_id, "jonas")
        assert code == 1 and "offered to ingrid, not to the agent asking" in err
        code, out, err = await _baton(env, "case", "accept", case_id, "ingrid")
        assert code == 0 and "HUMAN_HANDLING" in out

        code, _, err = await _baton(env, "case", "message", case_id, "hi", "--author", "robot")
        assert code == 2 and "robot" in err

        code, _, err = await _baton(env, "case", "show", "C-does-not-exist")
        assert code == 3 and "not found" in err
        await dev_env.client.get_workflow_handle(f"case-{case_id}").terminate()


async def test_config_check(cli_env, tmp_path: Path) -> None:
    code, out, _ = await _baton(cli_env, "config-check")
    assert code == 0 and "valid" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1")
    code, _, err = await _baton(cli_env, "config-check", str(bad))
    assert code == 2 and "default_path" in err
    assert "notifications.toml: valid, 5 channel(s), connected: none" in " ".join(out.split())
    code, out, _ = await _baton(cli_env, "config-check", "--json")
    checked = json.loads(out)
    assert code == 0 and checked["connected"] == [] and "email" in checked["channels"]

    # A connected webhook must be able to sign.
    unsigned = cli_env | {"BATON_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    code, _, err = await _baton(unsigned, "config-check")
    assert code == 2 and "channels.ops-webhook: BATON_WEBHOOK_SECRET" in " ".join(err.split())

    # A template naming a field its event does not carry fails the check, by file and name.
    shutil.copytree(DEFAULT_NOTIFICATIONS.parent / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "de" / "case_offered.j2").write_text(
        "{% block subject %}{{ data.handof.summary }}{% endblock %}{% block text %}x{% endblock %}"
    )
    notifications = tmp_path / "notifications.toml"
    notifications.write_text(DEFAULT_NOTIFICATIONS.read_text())
    env = cli_env | {"BATON_NOTIFICATIONS": str(notifications)}
    code, _, err = await _baton(env, "config-check")
    assert code == 2 and "de/case_offered.j2" in err and "handof" in err


async def test_unreachable_temporal_is_exit_code_4(cli_env) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    env = cli_env | {"TEMPORAL_ADDRESS": f"127.0.0.1:{closed_port}"}
    code, _, err = await _baton(env, "case", "show", "C-1")
    assert code == 4 and "cannot reach Temporal" in err


async def test_agent_back_from_away_is_offered_the_waiting_case(
    dev_env, cli_env, policy, store, executor
) -> None:
    # Past a case terminated while it waited: visibility keeps its HANDOFF, and a
    # signal to it fails ("workflow execution already completed"), never the command.
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        directory = DirectoryStore(store.engine)
        for agent in ("anna", "ben", "clara"):
            directory.set_presence(agent, Presence.AWAY)
        baton = BatonClient(dev_env.client, worker.task_queue)
        ended, waiting = new_case(), new_case()
        for case in (ended, waiting):
            await baton.start_case(case)
            await baton.post_message(
                case.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
            )
            assert (await baton.case(case.case_id)).queued_since is not None
            wid = f"case-{case.case_id}"
            await _eventually(lambda wid=wid: _has(dev_env.client, 'CaseState = "HANDOFF"', wid))
        await dev_env.client.get_workflow_handle(f"case-{ended.case_id}").terminate()

        env = cli_env | {
            "BATON_TASK_QUEUE": worker.task_queue,
            "BATON_DATABASE_URL": str(store.engine.url),
        }
        code, out, err = await _baton(env, "agents", "presence", "ben", "available")
        assert code == 0 and "note:" not in err, err
        assert "ben is available" in out and "waiting case" in out

        async def offered() -> bool:
            return (await baton.case(waiting.case_id)).offered_to == "ben"

        await _eventually(offered)
        await dev_env.client.get_workflow_handle(f"case-{waiting.case_id}").terminate()


async def test_reconcile_releases_agents_held_by_cases_that_no_longer_run(
    dev_env, cli_env, policy, store, executor
) -> None:
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        baton = BatonClient(dev_env.client, worker.task_queue)
        running, terminated = new_case(), new_case()
        for case in (running, terminated):
            await baton.start_case(case)
            await baton.post_message(
                case.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
            )
        directory = DirectoryStore(store.engine)
        assert directory.loads()["anna"].active_cases + directory.loads()["ben"].active_cases == 2
        # An operator terminates one case: it cannot release its agent itself.
        await dev_env.client.get_workflow_handle(f"case-{terminated.case_id}").terminate()
        env = cli_env | {
            "BATON_TASK_QUEUE": worker.task_queue,
            "BATON_DATABASE_URL": str(store.engine.url),
        }
        code, out, err = await _baton(env, "agents", "reconcile")
        assert code == 0, err
        assert f"released 1: {terminated.case_id}" in out
        held = {a.case_id for a in directory.active_assignments()}
        assert held == {running.case_id}
        await dev_env.client.get_workflow_handle(f"case-{running.case_id}").terminate()


async def test_case_list_filters_by_the_search_attributes(
    dev_env, cli_env, policy, store, executor
) -> None:
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        env = cli_env | {"BATON_TASK_QUEUE": worker.task_queue}
        client = BatonClient(dev_env.client, worker.task_queue)
        vip = new_case(customer={"id": "c-vip", "tier": "vip", "language": "de"})
        routine = new_case()
        for case in (vip, routine):
            await client.start_case(case)
        await client.post_message(
            vip.case_id, {"message_id": "m1", "author": "customer", "text": "Das ist Betrug!"}
        )
        await client.post_message(
            routine.case_id, {"message_id": "m1", "author": "customer", "text": "Where is it?"}
        )

        async def listed(*filters: str) -> set[str]:
            code, out, err = await _baton(env, "case", "list", *filters, "--json")
            assert code == 0, err
            return {c["case_id"] for c in json.loads(out)}

        async def vip_listed() -> bool:
            return vip.case_id in await listed("--state", "HANDOFF", "--vip", "--level", "3")

        await _eventually(vip_listed)
        found = await listed("--state", "HANDOFF", "--vip", "--level", "3")
        assert routine.case_id not in found
        assert vip.case_id in await listed("--reason", "fraud")
        assert routine.case_id in await listed("--state", "AI_HANDLING")
        assert vip.case_id not in await listed("--state", "AI_HANDLING")
        code, out, _ = await _baton(env, "case", "list", "--reason", "fraud")
        assert code == 0 and vip.case_id in out and "HANDOFF" in out  # the table
        code, _, err = await _baton(env, "case", "list", "--query", "CaseState = = 1")
        assert code == 1 and "invalid query" in err
        for case in (vip, routine):
            await dev_env.client.get_workflow_handle(f"case-{case.case_id}").terminate()


async def test_schema_prints_the_wire_contract(cli_env) -> None:
    code, out, _ = await _baton(cli_env, "schema")
    schemas = json.loads(out)
    assert code == 0 and {"CaseInput", "IncomingMessage", "CaseView", "Assessment"} <= set(schemas)
    case_input = schemas["CaseInput"]
    assert set(case_input["required"]) == {"case_id", "customer", "channel", "subject"}
    assert "carry_over" not in case_input["properties"]  # internal, not part of the contract
    assert case_input["additionalProperties"] is False
    code, out, _ = await _baton(cli_env, "schema", "IncomingMessage")
    assert code == 0 and json.loads(out)["$defs"]["Author"]["enum"] == ["customer", "ai", "agent"]
    code, _, err = await _baton(cli_env, "schema", "Nope")
    assert code == 2 and "CaseInput" in err


async def test_version_is_the_release_in_pyproject(cli_env) -> None:
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    code, out, _ = await _baton(cli_env, "--version")
    assert (code, out.strip()) == (0, f"baton {project['project']['version']}")


async def test_reassign_and_approval_from_the_command_line(
    dev_env, cli_env, policy, store, executor
) -> None:
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        env = cli_env | {"BATON_TASK_QUEUE": worker.task_queue}
        client = BatonClient(dev_env.client, worker.task_queue)
        case = new_case()
        await client.start_case(case)
        message = {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        await client.post_message(case.case_id, message)
        await client.accept(case.case_id, "anna")
        reassign = ["case", "reassign", case.case_id, "clara", "--by", "lead-support"]
        code, out, err = await _baton(env, *reassign, "--reason", "anna is ill", "--json")
        assert code == 0, err
        assert CaseView.model_validate(json.loads(out)).offered_to == "clara"
        await ask_management_approval(client, case.case_id, "clara")

        deny = ["case", "deny", case.case_id, "--by", "lead-specialists", "--reason", "no"]
        code, _, err = await _baton(env, *deny)
        assert code == 1 and "waits for head-of-service's approval" in err
        approve = ["case", "approve", case.case_id, "--by", "head-of-service", "--json"]
        code, out, err = await _baton(env, *approve)
        assert code == 0, err
        view = CaseView.model_validate(json.loads(out))
        assert (view.assigned_team, view.pending_approval) == ("support-management", None)
        await dev_env.client.get_workflow_handle(f"case-{case.case_id}").terminate()
