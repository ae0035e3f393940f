//! systemd notifications (`Type=notify`, `WatchdogSec=`): READY=1 once the listener accepts
//! connections, STOPPING=1 when shutdown begins, and WATCHDOG=1 at half the watchdog interval for
//! as long as the async runtime runs tasks. A process that stops running them (hung, deadlocked,
//! or stopped with SIGSTOP) stops pinging, and systemd kills and restarts it after `WatchdogSec`;
//! NGINX meanwhile sends its requests to the other backend. Without systemd (no `NOTIFY_SOCKET`)
//! every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn notify(state: NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// The listener is bound: the service is ready.
pub(crate) fn ready() {
    notify(NotifyState::Ready);
}

/// Shutdown has begun.
pub(crate) fn stopping() {
    notify(NotifyState::Stopping);
}

/// Pings systemd's watchdog, when it is enabled for this process, at half its interval; the
/// task ends with the runtime.
pub(crate) fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()?;
    let every = (interval / 2).max(Duration::from_millis(100));
    tracing::info!(
        watchdog_ms = interval.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            notify(NotifyState::Watchdog);
        }
    }))
}
