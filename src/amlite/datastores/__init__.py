"""datastore/v1.0: a workspace's named pointers at storage containers, with their credentials sealed."""
