"""The command line: the only place that prints for the user or chooses an exit code."""
