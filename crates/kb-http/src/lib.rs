//! Keelbase HTTP edge: axum router and PocketBase wire format
