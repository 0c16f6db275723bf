"""Identity: tenants, service principals, the token service, signing keys and role-based access."""
