//! `cargo run -p cluster -- up|status|failover|rejoin|sync-demo|down|destroy`: the local cluster,
//! the production topology of securevote on this one machine. deploy/local-cluster is a thin
//! wrapper that builds this tool when missing and runs it with the same arguments and
//! environment.
//!
//! The orchestration lives here: pid files and process checks, the waits and their timings
//! (sys.rs), the status table, failover and rejoin in both modes, up and down. The real tools are
//! still called for what they do: psql (as the PostgreSQL user, over the unix socket with peer
//! authentication), pg_ctl, initdb, pg_basebackup, pg_rewind, pg_autoctl, nginx, openssl,
//! dpkg-query/apt-get. The settings come from the files under deploy/postgres/ (settings.rs,
//! shared with the pg_auto_failover fault drills).

mod cluster;
mod settings;
mod sys;
mod votes;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const USAGE: &str = "\
deploy/local-cluster - the production topology of securevote on this one machine.

  NGINX 127.0.0.1:8080 (HTTP) + 127.0.0.1:8443 (TLS, self-signed)
    -> securevote backend1 127.0.0.1:3001 (metrics 127.0.0.1:9101)
    -> securevote backend2 127.0.0.1:3002 (metrics 127.0.0.1:9102)
         -> PostgreSQL 15 pg1 127.0.0.1:54321 (primary)
            PostgreSQL 15 pg2 127.0.0.1:54322 (synchronous standby, physical slot)
  --auto: pg_auto_failover monitor 127.0.0.1:54320 + one keeper per data node, three data
          nodes pg1 :54321, pg2 :54322, pg3 :54323 (primary + 2 standbys,
          number_sync_standbys = 1: a vote is acknowledged once it is on two machines); the
          backends connect with the URI of `pg_autoctl show uri` as printed (sslmode=require,
          target_session_attrs=read-write)

Usage:
  deploy/local-cluster up [--auto]     build/install what is missing, start everything
                                       (MODE=auto in the environment = --auto)
  deploy/local-cluster status          what runs where, who is primary, replication state
                                       (auto mode: each node's pg_auto_failover state, each
                                       standby's sync_state, whether the backends' connections
                                       use TLS)
  deploy/local-cluster failover        crash the primary, promote the standby (manual mode;
                                       in auto mode: kill -9 of the primary node, the monitor
                                       promotes one of the two standbys, and it is timed:
                                       promotion, monitor state, /health, and the first vote
                                       acknowledged through NGINX after the kill), show the
                                       API keeps working, then rejoin the old primary as a
                                       standby (--no-rejoin: leave it down)
  deploy/local-cluster rejoin          manual mode: turn a crashed old primary into a standby
                                       (pg_rewind, pg_basebackup as fallback)
  deploy/local-cluster sync-demo       show that a write waits while the standby is down
  deploy/local-cluster down            stop everything this tool started (idempotent)
  deploy/local-cluster destroy         down + delete the state directory

  `cargo run -p cluster -- CMD` is the same as `deploy/local-cluster CMD`.

Environment:
  STATE_DIR        where data, logs, pids, secrets go [<repo>/target/local-cluster]
  SECUREVOTE_BIN   backend binary [<repo>/target/release/securevote (or $CARGO_TARGET_DIR/
                   release/securevote), built with `cargo build --release` when missing]
  PG_BIN           PostgreSQL binaries [/usr/lib/postgresql/15/bin]
  MODE             manual | auto: the mode of a first `up` [manual]
  CLUSTER_BIN      (deploy/local-cluster) this tool [<target>/release/cluster, built with
                   `cargo build --release -p cluster` when missing or older than its sources]

Run as root (Debian packages are installed with apt-get when missing, PostgreSQL runs as
the `postgres` user) or as an ordinary user when the packages are already installed
(everything then runs as that user).
";

#[derive(Parser)]
#[command(
    name = "local-cluster",
    override_help = USAGE,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build/install what is missing, start everything.
    Up {
        /// pg_auto_failover (monitor + keepers) instead of manual failover.
        #[arg(long)]
        auto: bool,
        /// Manual failover (the default).
        #[arg(long, conflicts_with = "auto")]
        manual: bool,
    },
    /// What runs where, who is primary, replication state.
    Status,
    /// Crash the primary, promote a standby, then rejoin the old primary.
    Failover {
        /// Leave the old primary down.
        #[arg(long)]
        no_rejoin: bool,
    },
    /// Manual mode: turn a crashed old primary into a standby.
    Rejoin,
    /// Show that a write waits while the standby is down.
    SyncDemo,
    /// Stop everything this tool started (idempotent).
    Down,
    /// Down + delete the state directory.
    Destroy,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = cluster::Cluster::from_env(match &cli.command {
        Cmd::Up { auto, manual } => Some(if *auto {
            Some(cluster::Mode::Auto)
        } else if *manual {
            Some(cluster::Mode::Manual)
        } else {
            None
        }),
        _ => None,
    })
    .and_then(|c| match cli.command {
        Cmd::Up { .. } => c.up(),
        Cmd::Status => c.status(),
        Cmd::Failover { no_rejoin } => c.failover(!no_rejoin),
        Cmd::Rejoin => c.rejoin(),
        Cmd::SyncDemo => c.sync_demo(),
        Cmd::Down => c.down(),
        Cmd::Destroy => c.destroy(),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let s = sys::style();
            eprintln!("{}error:{} {message}", s.red, s.reset);
            ExitCode::FAILURE
        }
    }
}
