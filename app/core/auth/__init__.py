"""People, roles and their permissions; passwords, sessions and API keys. No Qt, no HTTP: the services check."""
