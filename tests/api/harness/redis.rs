//! A real Redis server for the fleet tests: Debian's `redis-server` (installed by `.ci/run`),
//! started on a free loopback port with no persistence, and killed when dropped. A test that
//! needs it and cannot start it fails with a message saying why; it is never skipped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    pub(crate) fn start() -> Self {
        let port = super::free_port();
        Self::start_on(port)
    }

    /// On `port` (to restart a stopped server where replicas expect it).
    pub(crate) fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the fleet tests need Debian's redis-server on PATH (.ci/run installs it: \
                     apt-get install redis-server); starting it failed: {e}"
                )
            });
        let server = Self {
            child: Some(child),
            port,
        };
        server.wait_until_up();
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .command(&["PING"])
                .is_ok_and(|out| out.trim() == "PONG")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        );
    }

    /// One command through `redis-cli` (installed with the server), raw output.
    pub(crate) fn command(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--no-raw"])
            .args(args)
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Every key and its raw value (for the "nothing readable" checks).
    pub(crate) fn dump(&self) -> Vec<(String, Vec<u8>)> {
        let keys = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "--raw",
                "KEYS",
                "*",
            ])
            .output()
            .expect("redis-cli KEYS");
        String::from_utf8_lossy(&keys.stdout)
            .lines()
            .filter(|k| !k.is_empty())
            .map(|k| {
                let kind = Command::new("redis-cli")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &self.port.to_string(),
                        "--raw",
                        "TYPE",
                        k,
                    ])
                    .output()
                    .expect("redis-cli TYPE");
                let kind = String::from_utf8_lossy(&kind.stdout).trim().to_owned();
                let read = if kind == "zset" {
                    vec!["ZRANGE", k, "0", "-1"]
                } else {
                    vec!["GET", k]
                };
                let value = Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--raw"])
                    .args(&read)
                    .output()
                    .expect("redis-cli GET");
                (k.to_owned(), value.stdout)
            })
            .collect()
    }

    /// Kills the server (an outage); `start_on(self.port)` brings one back.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
