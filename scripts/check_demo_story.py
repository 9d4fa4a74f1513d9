"""Read the demo's transcript in a real headless browser, as a newcomer would, and check that it
shows none of the story mistakes issue 15 listed (what the page *shows*, not its HTML source):

    .venv/bin/python scripts/check_demo_story.py

Needs Debian's `chromium` and Playwright (as scripts/readme_pictures.py, which installs them).
Prints one line per check; exits 1 if any fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _both_new_and_late(text: str) -> list[str]:
    """Indicators a digest lists both as having new data and as late."""
    both: list[str] = []
    for digest in re.split(r"CommStat digest", text)[1:]:
        digest = digest.split("Key indicators")[0]
        if "Indicators with new data" not in digest or "Late data" not in digest:
            continue
        new = digest.split("Indicators with new data")[1].split("Late data")[0]
        late = digest.split("Late data")[1]
        names = re.findall(r"^• ([^(:\n]+?)(?: \(|:)", late, re.M)
        both += [n.strip() for n in names if n.strip() and n.strip() in new]
    return both


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "commstat-demo"
        demo = [sys.executable, "-m", "bot.cli", "demo", "--folder", str(folder)]
        subprocess.run(demo, check=True, cwd=ROOT, capture_output=True)  # noqa: S603
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            page.goto((folder / "transcript.html").as_uri())
            text = page.inner_text("main")  # what a reader sees (closed <details> stay closed)
            days = [s.get_attribute("id") for s in page.query_selector_all("main > section")]
            browser.close()
    after_snooze = text.split("snoozes the reminder for 3 days")[1][:400]
    after_done_6 = text.split("done 6 Posted with a map")[1][:600]
    checks = {
        "typed mentions read @Name, never <@U…|name>": "<@U" not in text and "|lee>" not in text,
        "hourly checks in words, not 'Scheduler pass … planned'": "Scheduler pass" not in text,
        "the CLI import output is folded away": "Imported cdc_vsrr" not in text,
        "Lee's snooze from the DM is accepted": "Only an owner" not in after_snooze,
        "'done 6 Posted with a map' closes #6": "#6" in after_done_6,
        "the story ends Friday, Dec 11": days[-1] == "2026-12-11",
        "no indicator is both 'new data' and 'late data'": not _both_new_and_late(text),
    }
    for name, ok in checks.items():
        print("OK  " if ok else "FAIL", name)
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
