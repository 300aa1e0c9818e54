//! Orrery's front server: HTTP and the browser WebSocket, the web UI, accounts and sign-in, the project API, authorization, and routing each project channel to its local hub.
//! It may use `local-hub`'s public protocol types, never its internals; it holds no state that is lost when it dies.
//! Nothing is built here yet: the product-on-one-machine issue fills it.
