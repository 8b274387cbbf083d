"""Accounts, users and API keys: issuing and checking keys, the authorizer's policy,
account settings."""
