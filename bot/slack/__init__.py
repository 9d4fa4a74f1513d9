"""Everything that speaks Slack: the Bolt app, servers, OAuth, the Web API client, people lookup, the outbox gateway and Block Kit."""
