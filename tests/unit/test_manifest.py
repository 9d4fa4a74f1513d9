"""manifest.yml and the code must agree, or Slack sends commands nobody listens to."""

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.app import create_app
from bot.bootstrap import bootstrap
from bot.slack import ids
from bot.slack.blocks import commitments as blocks
from bot.slack.blocks.home import build_home
from bot.slack.help import help_text
from storage.models import Commitment, CommitmentOwner, CommitmentStatus

MANIFEST = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())


def test_every_command_in_the_manifest_is_handled_and_vice_versa():
    declared = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert declared == set(ids.COMMANDS)


def test_commit_escapes_mentions_so_owners_arrive_as_user_ids():
    commit = next(c for c in MANIFEST["features"]["slash_commands"] if c["command"] == ids.COMMIT)
    assert commit["should_escape"] is True


def test_every_slack_url_points_at_the_events_path():
    urls = [c["url"] for c in MANIFEST["features"]["slash_commands"]]
    urls += [
        MANIFEST["settings"]["interactivity"]["request_url"],
        MANIFEST["settings"]["event_subscriptions"]["request_url"],
    ]
    assert all(url.endswith("/slack/events") for url in urls)


def test_every_scope_is_justified_in_the_readme():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for scope in MANIFEST["oauth_config"]["scopes"]["bot"]:
        assert f"| `{scope}` |" in readme, scope


# --- the running app agrees with the manifest and with the blocks it sends ---------------------

ROOT = Path(__file__).parents[2]
# What each command's usage hint (the grey text Slack shows while typing) must mention.
SUBCOMMANDS = {
    ids.COMMIT: ("list", "done", "move", "note", "drop", "help"),
    ids.INDICATOR: ("list", "set", "import", "help"),
    ids.COMMSTAT: ("meeting", "digest", "settings", "report", "org", "help"),
}


@pytest.fixture
def app(sqlite_url, fake_slack):
    """The real Bolt app, built the way `commstat serve` builds it (against the fake Slack)."""
    from conftest import make_settings

    services = bootstrap(make_settings(sqlite_url, fake_slack.api_url))
    yield create_app(services)
    services.engine.dispose()


def handled(app, body):
    """Whether any registered listener would take this request (Bolt answers 404 otherwise)."""
    request = BoltRequest(body=body, mode="socket_mode")
    response = BoltResponse(status=200)
    return any(listener.matches(req=request, resp=response) for listener in app._listeners)


def command(name):
    return {"command": name, "text": "", "team_id": "T0COALITION", "user_id": "U0MARIA"}


def click(action_id):
    return {
        "type": "block_actions",
        "team": {"id": "T0COALITION"},
        "user": {"id": "U0MARIA"},
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button"}],
    }


def submission(callback_id):
    return {
        "type": "view_submission",
        "team": {"id": "T0COALITION"},
        "user": {"id": "U0MARIA"},
        "view": {"callback_id": callback_id, "type": "modal", "state": {"values": {}}},
    }


def event(kind):
    """The event Slack sends for a subscription ("message.im" is a `message` in a DM)."""
    kind, _, channel_type = kind.partition(".")
    sent = {"type": kind, **({"channel_type": channel_type} if channel_type else {})}
    return {"type": "event_callback", "team_id": "T0COALITION", "event": sent}


def test_the_probe_can_tell_handled_from_unhandled(app):
    assert handled(app, command(ids.COMMIT))
    assert not handled(app, command("/no-such-command"))
    assert not handled(app, click("no_such_button"))
    assert not handled(app, submission("no_such_form"))
    assert not handled(app, event("reaction_added"))


def test_every_manifest_command_has_a_listener(app):
    for declared in MANIFEST["features"]["slash_commands"]:
        assert handled(app, command(declared["command"])), declared["command"]


def test_every_button_and_form_id_has_a_listener(app):
    for action_id in (*ids.ACTIONS, *ids.IMPORT_ACTIONS):
        assert handled(app, click(action_id)), f"nothing handles a click on {action_id}"
    for callback_id in (*ids.VIEWS, *ids.IMPORT_VIEWS):
        assert handled(app, submission(callback_id)), f"nothing handles the form {callback_id}"


def test_every_manifest_event_has_a_listener(app):
    bot_events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert set(bot_events) == set(ids.EVENTS)
    for kind in bot_events:
        assert handled(app, event(kind)), f"Slack sends {kind} but nothing listens to it"


def _registered(kind):
    """The ids the handlers register for `@app.<kind>(...)`, read from their source."""
    found = set()
    for path in sorted((ROOT / "handlers").glob("*.py")):
        for arg in re.findall(rf"@app\.{kind}\(\s*([^)]+?)\s*\)", path.read_text()):
            if arg.startswith("ids."):
                found.add(getattr(ids, arg.removeprefix("ids.")))
            else:
                found.add(ast.literal_eval(arg))
    return found


def test_every_listener_is_for_something_slack_will_send():
    manifest_commands = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert _registered("command") <= manifest_commands
    assert _registered("event") <= set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert _registered("action") <= set(ids.ACTIONS)
    assert _registered("view") <= set(ids.VIEWS)


def test_every_id_constant_belongs_to_a_checked_group():
    """A new id left out of ACTIONS/VIEWS would escape the listener checks above."""
    groups = set(ids.COMMANDS) | set(ids.ACTIONS) | set(ids.VIEWS) | set(ids.EVENTS)
    groups |= set(ids.IMPORT_ACTIONS) | set(ids.IMPORT_VIEWS)
    for name, value in vars(ids).items():
        if name.isupper() and isinstance(value, str):
            assert value in groups, f"ids.{name} is in none of COMMANDS, ACTIONS, VIEWS, EVENTS"


def _interactive_ids(blocks):
    """action_ids of buttons, pickers and menus (inputs inside forms need no listener)."""
    found = set()
    for block in blocks:
        block = block if isinstance(block, dict) else block.to_dict()
        if block["type"] == "input":
            continue
        elements = [*block.get("elements", []), block.get("accessory") or {}]
        found |= {e["action_id"] for e in elements if isinstance(e, dict) and "action_id" in e}
    return found


def test_every_button_the_bot_sends_is_listed_and_every_form_it_opens_is_handled(app):
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    commitment = Commitment(
        id=12,
        team_id="T0COALITION",
        text="Distribute 200 naloxone kits",
        due_at=now + timedelta(days=7),
        due_has_time=False,
        time_zone="America/New_York",
        created_at=now,
        creator_id="U0MARIA",
        status=CommitmentStatus.OPEN,
        due_version=1,
    )
    commitment.owners = [CommitmentOwner(user_id="U0MARIA", team_id="T0COALITION", position=0)]
    sent = _interactive_ids(blocks.build_commitment_message(commitment, now=now))
    sent |= _interactive_ids(
        blocks.build_commitment_list(
            [commitment], title="Open", total=1, now=now, more_hint="`/commit list all`"
        )
    )
    sent |= _interactive_ids(
        build_home(
            [commitment], my_total=1, now=now, team_open=1, team_overdue=0, team_done_week=0
        ).blocks
    )
    assert sent == set(ids.ACTIONS)
    for action_id in sent:
        assert handled(app, click(action_id))
    for form in (
        blocks.build_note_modal(commitment),
        blocks.build_new_commitment_modal(
            user_id="U0MARIA", channel_id="C0MEETING", indicator_options=[("naloxone", "Naloxone")]
        ),
    ):
        assert form.callback_id in ids.VIEWS
        assert handled(app, submission(form.callback_id))
    # Builders in other modules (nudges, digests, indicators) may only use listed ids.
    for path in sorted((ROOT / "bot").glob("*.py")):
        for name in re.findall(r"(?:action|callback)_id=ids\.(\w+)", path.read_text()):
            assert getattr(ids, name) in set(ids.ACTIONS) | set(ids.VIEWS), (path.name, name)


def test_an_uploads_preview_and_forms_are_handled(app):
    """The preview's buttons (Import, Change mapping, Cancel) and both import forms."""
    from bot.slack.blocks import imports as import_blocks
    from bot.usecases.imports import Preview
    from storage.importer import ImportMapping, ImportReport
    from storage.models import ImportStatus

    preview = Preview(
        row_id=7,
        file_name="deaths.csv",
        status=ImportStatus.PREVIEWED,
        mapping=ImportMapping(),
        remembered=False,
        columns=["indicator", "period", "value"],
        report=ImportReport(file="deaths.csv"),
    )
    sent = _interactive_ids(import_blocks.build_preview(preview))
    assert sent == set(ids.IMPORT_ACTIONS)
    forms = [
        import_blocks.build_upload_modal(channel_id="C0MEETING")["callback_id"],
        import_blocks.build_mapping_modal(
            row_id=7, file_name="deaths.csv", mapping=ImportMapping(), columns_text="", context=""
        ).callback_id,
    ]
    assert set(forms) == set(ids.IMPORT_VIEWS)
    for callback_id in forms:
        assert handled(app, submission(callback_id))


def test_usage_hints_and_help_mention_every_subcommand():
    hints = {c["command"]: c["usage_hint"] for c in MANIFEST["features"]["slash_commands"]}
    missing = {
        name: [w for w in words if not re.search(rf"\b{w}\b", hints[name])]
        for name, words in SUBCOMMANDS.items()
    }
    assert not any(missing.values()), f"usage hints in manifest.yml do not mention: {missing}"
    undocumented = {
        name: [w for w in words if w != "help" and f"{name} {w}" not in help_text(name)]
        for name, words in SUBCOMMANDS.items()
    }
    assert not any(undocumented.values()), f"help does not show: {undocumented}"
