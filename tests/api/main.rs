//! Black-box API suite. Every module's scenarios run against both stores (embedded SQLite and a
//! real PostgreSQL started by the harness); PostgreSQL-only behaviour has its own module.

#[path = "../support/postgres.rs"]
mod postgres;

mod helpers;
#[path = "../support/smtp.rs"]
mod smtp;

mod admin;
mod auth;
mod candidates;
mod elections;
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
