//! Orrery's metadata store: accounts, sign-in tokens, projects, collaborators, datacenters, hosts, layout versions, placements, leases and replication state, behind one typed API.
//! It will have two backends, embedded SQLite (the one-machine default) and CQL (Cassandra or ScyllaDB through the `scylla` driver), and one conformance suite for both.
//! It must not depend on `hub` or `local-hub`.
//! Nothing is built here yet: the product-on-one-machine and Cassandra issues fill it.
