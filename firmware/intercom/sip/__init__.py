"""Sans-I/O SIP core (RFC 3261 and companions)."""
