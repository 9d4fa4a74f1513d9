"""Render the demo transcript to the PNG pictures in docs/ that the README shows.

    .venv/bin/python scripts/readme_pictures.py

Runs `commstat demo` into a temporary folder, opens transcript.html in headless Chromium (Debian's
`chromium` package; installed with apt-get when missing) through Playwright, and saves one picture
per key moment (a few entries of one day, at the transcript's real width) plus the visible text of
those entries next to it (`docs/demo-*.txt`).
tests/e2e/test_demo.py compares those texts with what the demo produces today, so a picture in the
README cannot silently drift from the demo.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
WIDTH = 820  # the transcript's column: the README shows each picture at its real size
# The key moments: (file name, day, texts, what the README says it shows). Each text picks the
# first entry of that day (after the previous pick) that contains it; the picture shows the picked
# entries one under the other, at the transcript's real width.
PICTURES = [
    (
        "demo-indicator",
        "2026-11-23",
        ["/indicator overdose deaths in MD", "1,562 deaths", "Number of Drug Overdose Deaths — MD"],
        "an indicator asked in the channel: the number, its changes and target, then the chart",
    ),
    (
        "demo-commit",
        "2026-11-23",
        [
            "/commit Distribute 200 naloxone kits",
            "Distribute 200 naloxone kits",
            "Open the Saturday warming center by Friday",
            "Open the Saturday warming center",
        ],
        "commitments in one line, with owners and an unambiguous due date",
    ),
    (
        "demo-nudge",
        "2026-11-25",
        ["DM with Maria", "clicks ✅ Done in the DM", "DM with Maria"],
        "Maria's morning message by DM, Done clicked from it, and the message updated in place",
    ),
    (
        "demo-digest",
        "2026-11-25",
        ["CommStat digest", "Key indicators"],
        "the pre-meeting digest in the meeting channel, with its chart",
    ),
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "chromium", "fonts-noto-color-emoji"], check=True)  # noqa: S607
    return shutil.which("chromium") or sys.exit("chromium could not be installed")


def main() -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "playwright>=1.40"], check=True)
        from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "commstat-demo"
        demo = [sys.executable, "-m", "bot.cli", "demo", "--folder", str(folder)]
        subprocess.run(demo, check=True, cwd=ROOT)  # noqa: S603 - our own CLI
        page_url = (folder / "transcript.html").as_uri()
        DOCS.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": WIDTH, "height": 900}, device_scale_factor=1)
            for name, day, wanted, _ in PICTURES:
                page.goto(f"{page_url}#only={day}")
                page.reload()  # the filter runs on load
                entries = page.locator(f"section[id='{day}'] .entry")
                texts = entries.all_inner_texts()
                picked: list[int] = []
                for text in wanted:
                    after = picked[-1] + 1 if picked else 0
                    picked.append(next(i for i in range(after, len(texts)) if text in texts[i]))
                for i in range(len(texts)):
                    if i not in picked:
                        entries.nth(i).evaluate("e => e.style.display = 'none'")
                page.locator(f"section[id='{day}'] .day").evaluate("e => e.style.display = 'none'")
                section = page.locator(f"section[id='{day}']")
                section.screenshot(path=str(DOCS / f"{name}.png"))
                shown = "\n".join(texts[i] for i in picked)
                (DOCS / f"{name}.txt").write_text(shown + "\n", encoding="utf-8")
                height = int((section.bounding_box() or {"height": 0})["height"])
                print(f"wrote docs/{name}.png ({height} px tall)")
            browser.close()


if __name__ == "__main__":
    main()
