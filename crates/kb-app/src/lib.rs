//! Keelbase application layer: collections, records, rules, auth tokens, settings
