"""Render the demo transcript to the PNG pictures in docs/ that the README shows.

    .venv/bin/python scripts/readme_pictures.py

Runs `commstat demo` into a temporary folder, opens transcript.html in headless Chromium (Debian's
`chromium` package; installed with apt-get when missing) through Playwright, and saves one picture
per chosen day plus the visible text of that day next to it (`docs/demo-*.txt`).
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
# (file name, day shown, what the README says it shows)
PICTURES = [
    (
        "demo-monday",
        "2026-11-23",
        "setting up the meeting, an indicator with its chart, commitments",
    ),
    ("demo-wednesday", "2026-11-25", "nudges by DM, Done from the DM, the pre-meeting digest"),
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
            page = browser.new_page(viewport={"width": 900, "height": 900}, device_scale_factor=1)
            for name, day, _ in PICTURES:
                page.goto(f"{page_url}#only={day}")
                page.reload()  # the filter runs on load
                section = page.locator(f"section[id='{day}']")
                section.screenshot(path=str(DOCS / f"{name}.png"))
                (DOCS / f"{name}.txt").write_text(section.inner_text() + "\n", encoding="utf-8")
                print(f"wrote docs/{name}.png")
            browser.close()


if __name__ == "__main__":
    main()
