"""The AWS wire: protocols, errors, ARNs and ids shared by every service."""
