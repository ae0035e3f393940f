//! securevote: a secure, highly available online voting service.
//!
//! The binary is a thin shell around this library: [`cli`] parses the command line,
//! [`config`] turns settings into a validated [`config::Config`], [`app::Application`] wires a
//! [`store::Store`] to the [`http`] router and serves it.

#![warn(unreachable_pub)]

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod elections;
pub mod http;
pub mod import;
pub mod mail;
pub mod metric_names;
pub mod private_files;
pub mod rolls;
pub mod serve;
pub mod store;
mod systemd;
pub mod telemetry;
