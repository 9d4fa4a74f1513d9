"""`commstat console`: a newcomer types slash commands with no Slack account and sees the answers."""

import subprocess
import sys

import pytest

SESSION = """\
/indicator overdose deaths in MD
as maria
/commit Call the shelters by Wednesday
/commit list
wait until Tuesday 8am
wait until Tuesday 10am
tick
as lee
/commit done 1
as maria
/commit done 1 Called all four
wait 2 days
/commit
/commmit list
what now
wait until last week
wait 3 fortnights
as nobody
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One console session, typed on standard input, as a newcomer would, with no settings."""
    home = tmp_path_factory.mktemp("console")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "MPLCONFIGDIR": str(home / "mpl")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console"],
        cwd=home,
        env=env,
        input=SESSION,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return home, result.stdout


def test_an_indicator_answer_gives_the_number_and_saves_the_chart(session):
    home, out = session
    assert "*1,562 deaths* · 12 months ending Apr 2025" in out
    chart = home / "commstat-console" / "chart-1.png"
    assert f"saved as {chart.relative_to(home)}" in out
    assert chart.read_bytes().startswith(b"\x89PNG") and chart.stat().st_size > 10_000


def test_a_commitment_is_confirmed_listed_and_reminded_once_the_day_before(session):
    _, out = session
    assert "*#1* Call the shelters\n    @Maria (Health Dept) · due *Wed, Nov 25, 2026*" in out
    assert "*Your open commitments* (1)" in out
    # Tuesday 9:00 is the only reminder before it is done; the extra `tick` sends nothing again.
    assert out.count("📅 *due tomorrow* · *#1* Call the shelters") == 1
    assert "Scheduler pass: nothing to send" in out
    # `wait until Tuesday 10am` on Tuesday at 8 means this Tuesday, not next week's
    assert "It is now Tue Nov 24, 8:00 AM" in out and "It is now Tue Nov 24, 10:00 AM" in out
    assert "*due today*" not in out  # done on Tuesday, so Wednesday stays quiet


def test_only_an_owner_can_mark_it_done(session):
    _, out = session
    assert (
        "(only visible to you):\n    Only an owner (@Maria (Health Dept)), whoever logged it "
        "(@Maria (Health Dept)) or a coalition admin can change #1." in out
    )
    # typed once (echoed after its prompt) and recorded once
    assert out.count("> /commit done 1 Called all four\n") == 1
    assert out.count("Called all four") == 2


def test_everything_the_console_does_not_understand_gets_a_specific_answer(session):
    home, out = session
    assert "/commmit is not one of CommStat's commands: /commit, /indicator, /commstat." in out
    assert "I don't know `what now`." in out
    assert "That is not later than now" in out
    assert "Say how long, e.g. `wait 2 days`" in out
    assert "No one called `nobody` here. Try one of: Pat, Maria, Lee, Sam, Rosa." in out
    assert "Transcript of this session:" in out
    page = (home / "commstat-console" / "transcript.html").read_text()
    assert "Call the shelters" in page and "data:image/png;base64," in page


def test_a_folder_with_someone_elses_files_is_refused_and_left_alone(tmp_path):
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("the budget")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console", "--folder", str(folder)],
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "already has files in it that CommStat did not make" in result.stderr
    assert (folder / "notes.txt").read_text() == "the budget"


def test_piped_lines_are_shown_after_their_prompt_like_a_typed_session(session):
    # With input piped in, nothing echoes the lines: the console prints each one after its prompt,
    # so the output reads question, then answer (the first person is Pat until `as maria`).
    _, out = session
    assert (
        "Pat (Mayor's Office) · Mon Nov 23, 9:30 AM New York> /indicator overdose deaths in MD\n"
        in out
    )
    assert "Maria (Health Dept) · Mon Nov 23, 9:30 AM New York> /commit list\n" in out
    assert out.index("> /commmit list\n") < out.index("/commmit is not one of CommStat's commands")
