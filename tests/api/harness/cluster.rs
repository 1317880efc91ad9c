//! A real three-master Redis Cluster for the fleet tests: three Debian `redis-server
//! --cluster-enabled yes` on free loopback ports, joined by `redis-cli --cluster create …
//! --cluster-replicas 0 --cluster-yes`, each node's state in a directory of its own so a killed
//! node can come back as itself. Killed and cleaned up when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

struct Node {
    port: u16,
    bus_port: u16,
    child: Option<Child>,
}

impl RedisCluster {
    pub(crate) fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sts-broker-cluster-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            let node = Node {
                port: super::free_port(),
                bus_port: super::free_port(),
                child: None,
            };
            cluster.nodes.push(node);
        }
        for i in 0..3 {
            cluster.start_node(i);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_until_ok();
        cluster
    }

    /// Starts node `i` (again, after [`RedisCluster::kill`]: same ports, same node id).
    pub(crate) fn start_node(&mut self, i: usize) {
        let node_dir = self.dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let node = &mut self.nodes[i];
        let child = Command::new("redis-server")
            .args(["--port", &node.port.to_string()])
            .args(["--cluster-port", &node.bus_port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .args(["--cluster-config-file", "nodes.conf"])
            .arg("--dir")
            .arg(&node_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the cluster tests need Debian's redis-server on PATH (.ci/run installs \
                     it); starting it failed: {e}"
                )
            });
        node.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command(i, &["PING"]).map(|o| o.trim().to_owned()) != Ok("PONG".into()) {
            assert!(Instant::now() < deadline, "cluster node {i} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills node `i` (a master with a third of the slots).
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub(crate) fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].child.is_some())
                .all(|i| {
                    self.command(i, &["CLUSTER", "INFO"])
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
                });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The seed nodes as `BROKER_REDIS_URL` lists them (all three, comma-separated).
    pub(crate) fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One command on node `i` through `redis-cli`, raw output.
    pub(crate) fn command(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let out = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.nodes[i].port.to_string(),
                "--raw",
            ])
            .args(args)
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Every key on every running node.
    pub(crate) fn keys(&self) -> Vec<String> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some())
            .flat_map(|i| {
                self.command(i, &["KEYS", "*"])
                    .unwrap_or_default()
                    .lines()
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// How many nodes hold at least one key.
    pub(crate) fn nodes_with_keys(&self) -> usize {
        (0..self.nodes.len())
            .filter(|&i| {
                self.command(i, &["DBSIZE"])
                    .is_ok_and(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
            })
            .count()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
