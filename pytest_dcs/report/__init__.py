"""What the run tells: the terminal table, the JSON report and the plot."""
