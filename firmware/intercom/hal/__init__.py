"""Hardware abstraction: one module per kind of board (host, esp32)."""
