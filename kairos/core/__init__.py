"""The product's brain: pure functions, values in, values out. No I/O, no clock reads."""
