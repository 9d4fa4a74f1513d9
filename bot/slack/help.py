"""Usage text for each command, written for busy people rather than engineers."""

from __future__ import annotations

from bot.core.text import safe
from bot.slack import ids

_HELP = {
    ids.COMMIT: (
        "*/commit — make a commitment the coalition can hold you to*\n"
        "• `/commit Distribute 200 naloxone kits by end of month`\n"
        "• `/commit @maria @lee Open the Saturday clinic by Dec 12 #naloxone` (owners, indicator; "
        "pick people from Slack's list as you type @)\n"
        "• `/commit` with nothing else opens a form\n"
        "*Follow up*\n"
        "• `/commit list` (mine) · `/commit list @someone` · `/commit list all` · "
        "`/commit list overdue`\n"
        "• `/commit done 12 [note]` · `/commit move 12 next Friday` · "
        "`/commit note 12 <text>` · `/commit drop 12 <reason>` · `/commit snooze 12 1 week`\n"
        "*Dates I understand:* Friday, next Friday, Dec 4, 12/4, in 2 weeks, tomorrow 5pm, "
        "end of month, end of quarter, the 15th, before the next meeting."
    ),
    ids.INDICATOR: (
        "*/indicator — the coalition's shared measures*\n"
        "• `/indicator overdoses` — latest value, change, target and a chart\n"
        "• `/indicator overdoses since 2022` · `last 12 months` · `in VT` · `by state`\n"
        "• `/indicator overdoses for Dec 2023` · `in 2023` · `for Q1 2024 in VT` — that period's "
        "value and changes\n"
        "• `/indicator list` — every indicator with its latest value\n"
        "• `/indicator set naloxone kits 120 for 2026-10` — enter a value (data stewards)\n"
        "• `/indicator set overdoses 1,600 for Apr 2025 in MD` · `suppressed` stores a missing value\n"
        "• `/indicator import` — upload a CSV or Excel file (or drop it into a DM with me): "
        "a preview first, nothing written until you press Import (data stewards)"
    ),
    ids.COMMSTAT: (
        "*/commstat — meetings, digests and settings for this channel*\n"
        "• `/commstat meeting every Thursday at 10am` (also `every other Tuesday at 9:30`, "
        "`first Monday of the month at 2pm`)\n"
        "• `/commstat digest 2 hours before` — when the pre-meeting digest is posted\n"
        "• `/commstat weekly digest Monday 9am` · `/commstat digest now`\n"
        "• `/commstat meeting off` · `/commstat weekly digest off`\n"
        "• `/commstat settings` — nudge cadence, quiet hours, admins, time zone\n"
        "• Admins: `/commstat settings nudge hour 8` · `settings quiet hours 19-7` · "
        "`settings working days mon-fri` · `settings time zone America/Chicago` · "
        "`settings holidays add 2026-12-25` · `settings admin add @lee`\n"
        "• `/commstat org @lee Health Department` (admins) · `/commstat report` — "
        "on-time rate by organisation"
    ),
}


def help_text(command: str) -> str:
    return _HELP[command]


def not_understood(command: str, text: str) -> str:
    return f"Sorry, I didn't understand `{command} {safe(text, 60)}`.\n\n{help_text(command)}"
