"""HTTP plumbing shared by every service area: errors, request ids, routing, bodies, dependencies."""
