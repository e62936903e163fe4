"""A simulated Coinone exchange that speaks the same wire protocol as the real one."""
