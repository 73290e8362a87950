"""Quality: indicators of a period, the users' committee report and its charts."""
