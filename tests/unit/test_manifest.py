"""manifest.yml and the code must agree, or Slack sends commands nobody listens to."""

from pathlib import Path

import yaml

from bot import ids

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
