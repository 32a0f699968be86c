"""Sans-I/O media core: G.711 (ITU-T G.711), RTP (RFC 3550/3551/4733), jitter buffer."""
