"""MQTT 3.1.1 client for integrations (Home Assistant): a pure packet codec and a non-blocking connection."""
