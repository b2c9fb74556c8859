"""AWS STS: temporary credentials (AssumeRole, GetSessionToken, web identity) and who is calling."""
