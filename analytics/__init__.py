"""Usage events, rollups, topics and the error log. Built by the analytics issue."""
