"""`commstat demo` is the newcomer's first minute: it must run and show the workflow."""

import subprocess
import sys


def test_the_demo_runs_without_any_settings_and_writes_a_transcript(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "transcript.html" in result.stdout
    page = (tmp_path / "commstat-demo" / "transcript.html").read_text()
    assert "Distribute 200 naloxone kits at the Eastside shelters" in page
    assert "Mon, Nov 30, 2026" in page  # "end of month", said on Mon Nov 23 2026
    assert "that date is in the past" in page
    assert "When is it due?" in page
    assert "✅ Done" in page
    assert "Only an owner" in page
    assert "App Home" in page
    assert "@Lee (Housing Authority)" in page  # mentions shown by name, as Slack would
    assert (tmp_path / "commstat-demo" / "commstat.sqlite3").exists()
