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

# An upload's preview (value: the `imports` row id) and its forms.
IMPORT_CONFIRM = "import_confirm"
IMPORT_MAPPING = "import_mapping"  # opens the Change mapping form
IMPORT_CANCEL = "import_cancel"
IMPORT_ACTIONS = (IMPORT_CONFIRM, IMPORT_MAPPING, IMPORT_CANCEL)
IMPORT_UPLOAD_VIEW = "import_upload"  # /indicator import: a file_input form
IMPORT_MAPPING_VIEW = "import_mapping_form"
IMPORT_VIEWS = (IMPORT_UPLOAD_VIEW, IMPORT_MAPPING_VIEW)

# Events (subscription names in manifest.yml; "message.im" arrives as a `message` event)
MESSAGE_IM = "message.im"  # a file dropped into the bot's DM (subtype file_share)
EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked", MESSAGE_IM)
