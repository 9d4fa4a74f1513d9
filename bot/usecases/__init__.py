"""What a person can do, over a session the caller opens. No Slack."""
