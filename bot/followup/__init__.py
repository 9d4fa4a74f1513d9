"""The scheduler pass: nudges, digests and data-freshness planning; sends only through the outbox."""
