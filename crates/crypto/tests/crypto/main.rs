//! Tests of the ballot-cryptography core against its specification (docs/election-record.md).

mod ballots;
mod ceremony;
mod decryption;
mod fixture;
mod record;
mod vectors;
