//! The connection to Redis: one `ConnectionManager` to a standalone (or proxy-mode) endpoint,
//! or redis-rs's async cluster connection (`BROKER_REDIS_MODE=cluster`), which learns the slot
//! map from the seed nodes and follows `MOVED` and `ASK`. Both connect lazily, so a replica
//! starts while Redis is down. Every key the broker sends in one command or script lies in one
//! hash slot: single-key commands, and the budget's two keys share the `{sts-budget}` tag.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
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

/// A cheap handle on the one connection (clones share it).
#[derive(Clone)]
pub(crate) enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
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

impl RedisConn {
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
                let conn = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|_| NOT_A_URL.to_owned())?;
                Ok(Self::Single(conn))
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
                Ok(Self::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
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
