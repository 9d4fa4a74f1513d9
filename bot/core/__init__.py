"""Pure rules and formatting: no database, no Slack, no clock (`now` is an argument)."""
