//! The HTTP plumbing every emulator shares: one worker on a loopback listener, served in the
//! background on the current tokio runtime, stopped by `stop()` or on drop. It knows nothing
//! about any service's rules.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

/// A running emulator server.
pub struct Background {
    addr: SocketAddr,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Background {
    /// Serves an app built by `configure` on `listener`. Signals are left to the process: the
    /// emulators stop when their owner says so.
    pub fn serve<F>(listener: TcpListener, configure: F) -> std::io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let addr = listener.local_addr()?;
        let server = HttpServer::new(move || App::new().configure(configure.clone()))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .listen(listener)?
            .run();
        let handle = server.handle();
        Ok(Self {
            addr,
            handle,
            task: Some(tokio::spawn(server)),
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // The stop command is sent synchronously; the returned future only awaits completion.
        drop(self.handle.stop(false));
    }
}
