"""Ids shared between the handlers and manifest.yml (a test checks that both agree)."""

COMMIT = "/commit"
INDICATOR = "/indicator"
COMMSTAT = "/commstat"
COMMANDS = (COMMIT, INDICATOR, COMMSTAT)

# Buttons and pickers on a commitment (value: the commitment id).
COMMIT_DONE = "commit_done"
COMMIT_MOVE = "commit_move"  # a date picker: picking a date moves the commitment
COMMIT_SNOOZE = "commit_snooze"  # a menu: 1, 3 or 7 days
COMMIT_NOTE = "commit_note"  # opens the note form
ACTIONS = (COMMIT_DONE, COMMIT_MOVE, COMMIT_SNOOZE, COMMIT_NOTE)

# Forms (modals)
NEW_COMMITMENT_VIEW = "new_commitment"
NOTE_VIEW = "commitment_note"
VIEWS = (NEW_COMMITMENT_VIEW, NOTE_VIEW)

# Events
EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked")
