//! The compiled `sts-broker` binary as a child process: [`BrokerCommand`] says how to run it,
//! [`BrokerProcess`] is a running one.

use std::io::{BufRead as _, BufReader, Read};
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BrokerClient, Vars};

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");

/// A loopback port nothing listened on a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to run `sts-broker`: its arguments and environment (nothing inherited), in a fresh empty
/// working directory of its own.
pub(crate) struct BrokerCommand {
    args: Vec<String>,
    env: Vars,
    dir: Arc<WorkDir>,
}

/// A directory of the test's own, removed with everything in it when the last command or
/// process using it is dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(prefix: &str) -> Arc<Self> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Arc::new(Self(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl BrokerCommand {
    pub(crate) fn new() -> Self {
        Self {
            args: Vec::new(),
            env: Vars::new(),
            dir: WorkDir::new("sts-broker-test"),
        }
    }

    pub(crate) fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub(crate) fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    /// Every variable in `vars` (a later [`BrokerCommand::env`] overrides).
    pub(crate) fn envs(mut self, vars: &Vars) -> Self {
        self.env
            .extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// Writes `contents` to `name` in the working directory (a `.env`, say).
    pub(crate) fn file(self, name: &str, contents: &str) -> Self {
        std::fs::write(self.dir.0.join(name), contents).unwrap();
        self
    }

    /// `HOME` is the working directory (so no real `~/.alibabacloud` is found).
    pub(crate) fn home(self) -> Self {
        let home = self.dir.0.display().to_string();
        self.env("HOME", home)
    }

    fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(&self.args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.dir.0);
        command
    }

    /// Runs to completion and returns what it printed. The binary runs on a blocking thread,
    /// so emulators on the test's runtime keep answering it.
    pub(crate) async fn output(self) -> Output {
        let mut command = self.command();
        tokio::task::spawn_blocking(move || command.output().expect("binary runs"))
            .await
            .unwrap()
    }

    /// Starts the binary as configured, without waiting for anything (its address unknown).
    pub(crate) fn start(self) -> BrokerProcess {
        self.spawn(String::new())
    }

    /// Serves (no subcommand) on a free loopback port and waits until `/healthz` answers. A
    /// port found free can be taken by another test before the binary binds it: then again,
    /// on another port.
    pub(crate) async fn serve(self) -> BrokerProcess {
        for _ in 0..3 {
            let address = format!("127.0.0.1:{}", free_port());
            let command = BrokerCommand {
                args: self.args.clone(),
                env: self.env.clone(),
                dir: self.dir.clone(),
            };
            let mut process = command
                .env("BROKER_LISTEN", address.clone())
                .spawn(format!("http://{address}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(r) = reqwest::get(format!("{}/healthz", process.address)).await {
                    if r.status() == 200 {
                        return process;
                    }
                }
                if let Some(exit) = process.child.try_wait().unwrap() {
                    // Its last lines reach us through a reader thread.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let lines = process.stderr_lines();
                    if lines.iter().any(|l| l.contains("already in use")) {
                        break;
                    }
                    panic!("the binary exited ({exit:?}): {lines:#?}");
                }
                assert!(Instant::now() < deadline, "the binary did not come up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("three free ports were each taken before the binary bound them");
    }

    /// Runs `sts-broker demo` (on `127.0.0.1:0` unless `BROKER_LISTEN` is set, `RUST_LOG=warn`
    /// unless set) and waits for its whole banner; requests go to the `broker:` URL it prints.
    pub(crate) fn demo(mut self) -> BrokerProcess {
        self.args.insert(0, "demo".into());
        for (name, default) in [("BROKER_LISTEN", "127.0.0.1:0"), ("RUST_LOG", "warn")] {
            self.env
                .entry(name.into())
                .or_insert_with(|| default.into());
        }
        let mut process = self.spawn(String::new());
        loop {
            let line = (process.stdout.recv_timeout(Duration::from_secs(30)))
                .unwrap_or_else(|_| panic!("demo prints its banner: {:#?}", process.banner));
            if line.contains("Press Ctrl-C") {
                break;
            }
            process.banner.push(line);
        }
        process.client = BrokerClient::at(process.value("broker"));
        process
    }

    fn spawn(self, address: String) -> BrokerProcess {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let (stdout, out_reader) = lines_of(child.stdout.take().unwrap());
        let (stderr, err_reader) = lines_of(child.stderr.take().unwrap());
        BrokerProcess {
            child,
            _dir: self.dir,
            client: BrokerClient::at(address),
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            banner: Vec::new(),
        }
    }
}

/// Each line `pipe` yields, on a channel, read by a thread of its own.
fn lines_of(pipe: impl Read + Send + 'static) -> (Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (rx, reader)
}

/// A running `sts-broker`, killed on drop. Dereferences to a [`BrokerClient`] for its URL.
pub(crate) struct BrokerProcess {
    child: Child,
    /// Its working directory, removed after the process is killed.
    _dir: Arc<WorkDir>,
    client: BrokerClient,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
    /// `demo`: every line it printed before the "Press Ctrl-C" line.
    pub banner: Vec<String>,
}

impl Deref for BrokerProcess {
    type Target = BrokerClient;
    fn deref(&self) -> &BrokerClient {
        &self.client
    }
}

impl BrokerProcess {
    /// `demo`: the value printed after `label:` in the banner (e.g. `broker`, `OSS emulator`).
    pub(crate) fn value(&self, label: &str) -> String {
        let prefix = format!("{label}:");
        self.banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{label}:` in {:#?}", self.banner))
    }

    /// `demo`: the first banner line containing `needle`.
    pub(crate) fn line_with(&self, needle: &str) -> String {
        self.banner
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in {:#?}", self.banner))
            .trim()
            .to_owned()
    }

    /// Sends `SIG<name>` (`TERM`, `INT`).
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; kills it and fails if it has not within `within`.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the broker did not exit");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Its pipes are closed: once the readers are done, every line is on its channel.
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        exit
    }

    /// The lines the process wrote to stderr so far (all of them after [`Self::wait_exit`]).
    pub(crate) fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
