"""`commstat demo` is the newcomer's first minute: it must run and show the whole workflow."""

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[2] / "docs"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of the demo, as a newcomer would start it: no settings, an empty folder."""
    home = tmp_path_factory.mktemp("newcomer")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "MPLCONFIGDIR": str(home / "mpl")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    page = (home / "commstat-demo" / "transcript.html").read_text()
    return home, result.stdout, page


def test_the_demo_runs_without_any_settings_and_says_where_the_transcript_is(demo):
    home, stdout, _ = demo
    assert "transcript.html" in stdout
    assert (home / "commstat-demo" / "commstat.sqlite3").exists()
    # what happened, in words people use ("30 commands typed, 4 clicks"), not "30 typed, 4 did"
    assert re.search(r"\b\d+ commands typed, \d+ clicks, ", stdout), stdout
    assert " did," not in stdout and " pass" not in stdout


def test_the_story_starts_with_people_and_the_data_loading_is_folded_away(demo):
    page = demo[2]
    setup = re.search(r'<details class="entry setup"><summary>(.*?)</summary>', page, re.S)
    assert setup and "loads the coalition's shared indicators" in setup[1]
    assert "Imported" not in setup[1]  # the CLI's import summaries are inside, not on show
    first_entry = page.index('<div class="entry')
    assert page.index('<details class="entry setup">') < first_entry


def test_what_people_typed_shows_mentions_as_slack_shows_them(demo):
    page = demo[2]
    typed = re.findall(r'<div class="typed">(.*?)</div>', page)
    warming = next(t for t in typed if "Saturday warming center" in t)
    assert '<span class="mention">@Lee (Housing Authority)</span>' in warming
    assert not any("&lt;@U" in t or "|lee" in t for t in typed)


def test_the_transcript_shows_commitments_with_their_dates_and_refusals(demo):
    page = demo[2]
    assert "Distribute 200 naloxone kits at the Eastside shelters" in page
    assert "Wed, Nov 25, 2026" in page  # "by Wednesday", said on Mon Nov 23 2026
    assert "that date is in the past" in page
    assert "Only an owner" in page  # Rosa tried to close Sam's commitment
    assert "@Lee (Housing Authority)" in page  # mentions shown by name, as Slack would


def test_the_transcript_shows_real_cdc_numbers_and_charts(demo):
    page = demo[2]
    assert "1,562" in page  # Maryland, 12 months ending Apr 2025 (CDC VSRR)
    assert "12 months ending Apr 2025" in page
    charts = re.findall(
        r'<img class="chart" src="data:image/png;base64,([A-Za-z0-9+/=]{2000,})"', page
    )
    assert len(charts) >= 3  # indicator answers and the digest's key indicators


def test_the_transcript_shows_nudges_by_dm_a_digest_and_the_scheduler(demo):
    page = demo[2]
    assert "DM with Maria (Health Dept)" in page
    assert "is <b>due today</b>" in page or "due today" in page
    assert "CommStat digest" in page
    assert "CommStat's hourly check sent 1 post in #commstat." in page  # the digest, in words
    assert "Scheduler pass" not in page and "planned" not in page
    assert "App Home" in page
    assert "on-time" in page.lower()


def test_the_readme_pictures_show_what_the_demo_produces_today(demo):
    """docs/demo-*.png are screenshots of the transcript; their visible text is kept next to them.
    If the demo changes, re-run scripts/readme_pictures.py so the README shows the truth."""
    texts = sorted(DOCS.glob("demo-*.txt"))
    assert texts, "run scripts/readme_pictures.py to make the README's pictures"
    # Compared without whitespace: the browser and the HTML source space inline tags differently.
    page = "".join(html.unescape(re.sub(r"<[^>]+>", "", demo[2])).split())
    for text in texts:
        assert (DOCS / text.name.replace(".txt", ".png")).exists()
        for line in text.read_text().splitlines():
            words = " ".join(line.split())
            # Each entry's heading (`CommStat APP 9:30 am #commstat`) is laid out by the browser.
            if len(words) >= 12 and not re.search(r"\d{1,2}:\d\d [ap]m\b", words):
                assert words.replace(" ", "") in page, (text.name, words)
