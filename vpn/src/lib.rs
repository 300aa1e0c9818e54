//! Orrery's host overlay: ed25519 identities, an allow-list fed from the host registry, request-response RPC and byte streams between hosts and hubs over libp2p (TCP, Noise, Yamux).
//! It must not depend on `hub` or `local-hub`.
//! Nothing is built here yet: the overlay issue fills it.
