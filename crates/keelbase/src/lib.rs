//! Keelbase library: configuration and server wiring.
