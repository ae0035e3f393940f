//! Ballot cryptography (pure: no I/O, no clock, no async).
