//! Keelbase end to end: the real server on a free port, a fresh data directory and SQLite
//! database per test, driven over HTTP only (plus the real binary for process-level tests).
//! One test binary, one module per area; `helpers` is the test kit.

mod helpers;
mod process;

mod account_emails;
mod auth;
mod backups;
mod bad_input;
mod batch;
mod cli;
mod cluster;
mod collections;
mod dashboard;
mod durability;
mod expand_fields;
mod files;
mod filters;
mod health;
mod logs;
mod migrate;
mod oauth2;
mod realtime;
mod records;
mod relations;
mod rules;
mod settings;
mod uploads;
mod users;
mod validation;
