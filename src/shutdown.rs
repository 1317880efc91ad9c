//! Graceful shutdown: the first SIGTERM or SIGINT stops accepting connections and lets in-flight
//! requests finish within the server's shutdown timeout; a second one stops at once. It owns
//! signal handling for `serve` and `demo` only (tests never install handlers) and decides
//! nothing about requests.

use actix_web::dev::{Server, ServerHandle};

/// Waits for the first SIGTERM or SIGINT (Ctrl-C); returns its name.
async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Runs `servers` (the main one first) until they stop by themselves or a signal stops them
/// gracefully. Background work (cache refreshes, readiness checks) lives on the servers' worker
/// runtimes and is cancelled with them; nothing outlives this call but the process exit.
pub async fn run_until_signalled(servers: Vec<Server>) -> std::io::Result<()> {
    let handles: Vec<ServerHandle> = servers.iter().map(Server::handle).collect();
    // The servers act on stop commands only while they are polled, so `all` is polled
    // throughout and the commands are sent from their own tasks.
    let mut all = futures_util::future::try_join_all(servers);
    tokio::select! {
        result = &mut all => return result.map(|_| ()),
        name = signal() => {
            tracing::info!(signal = name, "shutting down: no new connections, finishing in-flight requests");
        }
    }
    stop_all(&handles, true);
    let result = tokio::select! {
        result = &mut all => result,
        name = signal() => {
            tracing::warn!(signal = name, "second signal: stopping now");
            stop_all(&handles, false);
            all.await
        }
    };
    tracing::info!("shutdown complete");
    result.map(|_| ())
}

fn stop_all(handles: &[ServerHandle], graceful: bool) {
    for handle in handles {
        let handle = handle.clone();
        tokio::spawn(async move { handle.stop(graceful).await });
    }
}
