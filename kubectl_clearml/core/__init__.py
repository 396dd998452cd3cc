"""Pure logic: plain data in, plain data out. No I/O, no clients, no clock, no environment."""
