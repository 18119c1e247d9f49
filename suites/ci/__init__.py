"""CI suite: the stack starts within its startup SLO, is healthy, ready, and tells its version."""
