"""Ids shared between the handlers and manifest.yml (a test checks that both agree)."""

COMMIT = "/commit"
INDICATOR = "/indicator"
COMMSTAT = "/commstat"
COMMANDS = (COMMIT, INDICATOR, COMMSTAT)
