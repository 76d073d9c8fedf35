"""What the documented cases tell: the KPI report and the learning loop's proposals."""
