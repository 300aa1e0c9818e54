//! Orrery's per-project server: open documents (sync master copies), shared terminals, kernels, file operations and presence for one project, reached by its host over a Unix socket.
//! It must not depend on `hub`, `db` or `vpn`: it only ever talks to its host over a local socket.
//! Nothing is built here yet: the local-hub issue fills it on top of `orrery-sync`.
