"""Local stand-ins of Slack, the signed-request driver, demo, console and bundled data.

Only the CLI's `demo`/`console`, tests, benchmarks and scripts import this package."""
