//! Orrery's project volumes: ZFS datasets driven through the `zfs` CLI (zfs-fuse in tests) or plain directories, snapshots and their pruning, replication between hosts, and placement by weighted rendezvous hashing.
//! It must not depend on `hub` or `local-hub`.
//! Nothing is built here yet: the storage, placement and replication issues fill it.
