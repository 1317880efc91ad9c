//! The connections to Redis: a `ConnectionManager` to a standalone (or proxy-mode) endpoint,
//! or redis-rs's async cluster connection (`BROKER_REDIS_MODE=cluster`), which learns the slot
//! map from the seed nodes and follows `MOVED` and `ASK`. Both connect lazily, so a replica
//! starts while Redis is down. Every key the broker sends in one command or script lies in one
//! hash slot: single-key commands, and the budget's two keys share the `{sts-budget}` tag.
//!
//! Each thread that calls Redis (each actix worker, each thread of the main runtime) opens its
//! own connection on first use, so the task that drives it runs on the runtime of the request
//! that awaits the answer: a call is written and its answer read on the worker's own thread,
//! with no hop to another runtime and back.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, TlsCertificates, Value};

/// `BROKER_REDIS_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisMode {
    /// One endpoint: a standalone server, a primary/replica pair behind one address, or a
    /// cluster's proxy endpoint.
    #[default]
    Standalone,
    /// A Redis Cluster spoken to directly: `BROKER_REDIS_URL` lists seed nodes.
    Cluster,
}

impl RedisMode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "standalone" => Ok(Self::Standalone),
            "cluster" => Ok(Self::Cluster),
            _ => Err("must be standalone or cluster".into()),
        }
    }
}

/// A cheap handle on one connection (clones share it).
#[derive(Clone)]
pub(crate) enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// What opens one more connection; holds the URL's password, so it is never shown.
#[derive(Clone)]
enum Opener {
    Single(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient, ClusterConfig),
}

impl Opener {
    /// A lazy connection whose tasks run on the calling thread's runtime.
    fn open(&self) -> RedisConn {
        match self {
            Self::Single(client, config) => RedisConn::Single(
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    .expect("the settings were checked when the first connection was opened"),
            ),
            Self::Cluster(client, config) => {
                RedisConn::Cluster(client.get_pending_async_connection_with_config(config.clone()))
            }
        }
    }
}

/// The connections of one fleet handle, one per thread that uses them.
pub(crate) struct RedisConns {
    opener: Opener,
    /// Alive as long as this handle: a thread's connections of a dropped handle are let go the
    /// next time that thread opens one.
    owner: Arc<()>,
}

thread_local! {
    static PER_THREAD: RefCell<Vec<(Weak<()>, RedisConn)>> = const { RefCell::new(Vec::new()) };
}

impl RedisConns {
    /// This thread's connection (opened now if it has none); call it inside a tokio runtime.
    pub(crate) fn here(&self) -> RedisConn {
        PER_THREAD.with(|conns| {
            let mut conns = conns.borrow_mut();
            let owner = Arc::as_ptr(&self.owner);
            if let Some((_, conn)) = conns
                .iter()
                .find(|(o, _)| std::ptr::eq(o.as_ptr(), owner) && o.strong_count() > 0)
            {
                return conn.clone();
            }
            conns.retain(|(o, _)| o.strong_count() > 0);
            let conn = self.opener.open();
            conns.push((Arc::downgrade(&self.owner), conn.clone()));
            conn
        })
    }
}

/// What [`RedisConn::open`] needs; the URL list may hold passwords and is never shown.
pub(crate) struct ConnSettings<'a> {
    pub mode: RedisMode,
    /// One URL, or comma-separated seed nodes in cluster mode.
    pub urls: &'a str,
    /// A PEM CA bundle for `rediss://` (`BROKER_REDIS_CA_FILE`); `None`: the public roots.
    pub ca: Option<&'a [u8]>,
    pub timeout: Duration,
}

const NOT_A_URL: &str = "BROKER_REDIS_URL: is not a Redis URL the client accepts";

impl RedisConns {
    /// Checks the settings and opens this thread's first connection (lazily).
    pub(crate) fn open(settings: &ConnSettings<'_>) -> Result<Self, String> {
        let certs = settings.ca.map(|pem| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        });
        let bad_ca = |_| {
            "BROKER_REDIS_CA_FILE: holds no certificate the TLS client accepts (PEM expected)"
                .to_owned()
        };
        match settings.mode {
            RedisMode::Standalone => {
                let client = match certs {
                    Some(certs) => {
                        redis::Client::build_with_tls(settings.urls, certs).map_err(bad_ca)?
                    }
                    None => redis::Client::open(settings.urls).map_err(|_| NOT_A_URL.to_owned())?,
                };
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.timeout))
                    .set_response_timeout(Some(settings.timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(2));
                let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    .map_err(|_| NOT_A_URL.to_owned())?;
                Ok(Self::first(
                    Opener::Single(client, config),
                    RedisConn::Single(conn),
                ))
            }
            RedisMode::Cluster => {
                let mut builder = ClusterClientBuilder::new(seed_nodes(settings.urls))
                    .retries(2)
                    .connection_timeout(settings.timeout)
                    .response_timeout(settings.timeout);
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build().map_err(|e| {
                    if settings.ca.is_some() {
                        bad_ca(e)
                    } else {
                        NOT_A_URL.to_owned()
                    }
                })?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(settings.timeout)
                    .set_response_timeout(settings.timeout);
                let conn = client.get_pending_async_connection_with_config(config.clone());
                Ok(Self::first(
                    Opener::Cluster(client, config),
                    RedisConn::Cluster(conn),
                ))
            }
        }
    }

    fn first(opener: Opener, conn: RedisConn) -> Self {
        let conns = Self {
            opener,
            owner: Arc::new(()),
        };
        PER_THREAD.with(|c| c.borrow_mut().push((Arc::downgrade(&conns.owner), conn)));
        conns
    }
}

/// The comma-separated seed nodes of `BROKER_REDIS_URL`.
pub(crate) fn seed_nodes(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
