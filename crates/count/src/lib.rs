//! Counting engine (pure: no I/O, no clock, no async).
