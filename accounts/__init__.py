"""Users, agencies, tenants and memberships: who may see and do what. Knows nothing of Copernica."""
