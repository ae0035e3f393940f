//! Black-box API suite: a real server on a random port over a real store, spoken to over HTTP
//! (the harness is `helpers`). One module per area of the service.
//!
//! A scenario that must hold on both stores (embedded SQLite and a real PostgreSQL started by the
//! harness) is an `async fn name(kind: Kind)` under `#[apply(both_stores)]`, and runs as
//! `module::name::case_1_sqlite` and `module::name::case_2_postgres`. A scenario on one store only
//! is a plain `#[tokio::test]`: PostgreSQL-only behaviour (several instances on one database,
//! multi-host settings, failover) has its own module, `postgres_ha`; `unlinkable` has one test per
//! store, as their copies differ; the remaining single-store tests run on SQLite.

#[path = "../support/postgres.rs"]
mod postgres;

mod helpers;
#[path = "../support/smtp.rs"]
mod smtp;

mod admin;
mod auth;
mod candidates;
mod elections;
mod encrypted;
mod errors;
mod health;
mod invitations;
mod openapi;
mod postgres_ha;
mod probing;
mod reads;
mod rolls;
mod security;
mod storage;
mod unlinkable;
mod votes;
