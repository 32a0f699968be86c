"""SIP intercom firmware package."""
