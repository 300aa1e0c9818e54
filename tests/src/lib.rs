//! Orrery's whole-system tests and benchmarks: several real processes, real browsers, real ZFS, real Cassandra, and benchmarks that print ratios against peers measured in the same run.
//! Nothing outside `tests/` depends on this crate; it may depend on every other crate.
