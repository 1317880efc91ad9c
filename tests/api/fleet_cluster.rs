//! Fleet mode on a real three-master Redis Cluster (`BROKER_REDIS_MODE=cluster`): replicas
//! share credentials and one STS budget, redirections are followed from a single seed node, and
//! a killed node is survived like a Redis outage. And `rediss://` with a private CA
//! (`BROKER_REDIS_CA_FILE`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet::{fleet_vars, key_id};
use crate::harness::{RedisCluster, Sts, TestApp, TlsRedis, Vars};

/// Two replicas on one STS emulator: the first knows every seed node, the second only one.
async fn replicas(
    cluster: &RedisCluster,
    extra: impl Fn(&mut Vars) + Clone + 'static,
) -> [TestApp; 2] {
    let sts = Sts::demo().await;
    let all = cluster.urls();
    let one = all.split(',').next().unwrap().to_owned();
    let mut apps = Vec::new();
    for url in [all, one] {
        let extra = extra.clone();
        apps.push(
            TestApp::builder()
                .sts(&sts)
                .vars(move |vars| {
                    fleet_vars(vars, &url);
                    vars.insert("BROKER_REDIS_MODE".into(), "cluster".into());
                    vars.insert("BROKER_REDIS_TIMEOUT_MS".into(), "500".into());
                    extra(vars);
                })
                .spawn()
                .await,
        );
    }
    apps.try_into().ok().unwrap()
}

#[tokio::test]
async fn two_replicas_share_credentials_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    let apps = replicas(&cluster, |_| {}).await;
    let sts = apps[0].sts.clone();
    for n in 0..12 {
        let caller = format!("caller-{n}");
        let first = key_id(&apps[n % 2], &caller).await;
        assert_eq!(key_id(&apps[(n + 1) % 2], &caller).await, first, "{caller}");
    }
    assert_eq!(
        sts.issued_count(),
        12,
        "one STS call per caller for the fleet"
    );
    // The credentials spread over the masters: the replica that knows one seed node followed
    // the cluster's redirections to the others.
    assert!(cluster.nodes_with_keys() >= 2, "keys on one node only");
    let keys = cluster.keys();
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("sts-broker:cred:"))
            .count(),
        12,
        "{keys:?}"
    );
    for app in &apps {
        let body: Value = app.readyz().await.json().await.unwrap();
        assert_eq!(body["fleet_cache"], "ok", "{body}");
    }
}

#[tokio::test]
async fn two_replicas_keep_one_sts_budget_on_a_cluster() {
    let cluster = RedisCluster::start();
    let apps = replicas(&cluster, |vars| {
        vars.insert("BROKER_STS_MAX_QPS".into(), "5".into());
        vars.insert("BROKER_STS_REFRESH_RESERVE_PERCENT".into(), "0".into());
        vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
        vars.insert(
            "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
            "0".into(),
        );
    })
    .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let client = (*apps[i % 2]).clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .get_token()
                .header("X-User", format!("new-{i}"))
                .await;
            response.status().as_u16()
        }));
    }
    let statuses: Vec<u16> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let sent = apps[0].sts.request_count() as f64;
    let allowed = 5.0 + 5.0 * elapsed + 1.0;
    assert!(
        sent <= allowed,
        "{sent} STS requests in {elapsed:.2} s (allowed {allowed:.1})"
    );
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&503), "the budget was spent");
    // The budget's two keys live in one slot (one hash tag), as a script on a cluster needs.
    let keys = cluster.keys();
    assert!(
        keys.iter().any(|k| k == "sts-broker:{sts-budget}:all"),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_killed_cluster_node_is_survived_like_a_redis_outage() {
    let mut cluster = RedisCluster::start();
    let apps = replicas(&cluster, |_| {}).await;
    let sts = apps[0].sts.clone();
    let warm = key_id(&apps[0], "warm").await;
    assert_eq!(key_id(&apps[1], "warm").await, warm);
    cluster.kill(0);
    // Past the node timeout the cluster is down for every key: the replicas work alone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (i, app) in apps.iter().enumerate() {
        assert_eq!(key_id(app, "warm").await, warm);
        key_id(app, &format!("during-outage-{i}")).await;
    }
    cluster.start_node(0);
    cluster.wait_until_ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut up = true;
        for app in &apps {
            let _ = key_id(app, "warm").await;
            let body: Value = app.readyz().await.json().await.unwrap();
            up &= body["fleet_cache"] == "ok";
        }
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not rejoin the cluster"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = sts.issued_count();
    let after = key_id(&apps[0], "after-outage").await;
    assert_eq!(key_id(&apps[1], "after-outage").await, after);
    assert_eq!(sts.issued_count(), before + 1, "sharing resumed");
}

/// A private CA: with `BROKER_REDIS_CA_FILE` the broker trusts the server's certificate and
/// shares through it; without, the public roots refuse it and the replica works alone.
#[tokio::test]
async fn rediss_with_a_private_ca() {
    let redis = TlsRedis::start();
    let sts = Sts::demo().await;
    let (url, ca) = (redis.url(), redis.ca_file());
    let trusting = TestApp::builder()
        .sts(&sts)
        .vars(move |vars| {
            fleet_vars(vars, &url);
            vars.insert("BROKER_REDIS_CA_FILE".into(), ca);
            vars.insert("BROKER_REDIS_TIMEOUT_MS".into(), "1000".into());
        })
        .spawn()
        .await;
    let url = redis.url();
    let public_roots = TestApp::builder()
        .sts(&sts)
        .vars(move |vars| {
            fleet_vars(vars, &url);
            vars.insert("BROKER_REDIS_TIMEOUT_MS".into(), "1000".into());
        })
        .spawn()
        .await;
    key_id(&trusting, "tls").await;
    key_id(&public_roots, "tls").await;
    let trusted: Value = trusting.readyz().await.json().await.unwrap();
    assert_eq!(trusted["fleet_cache"], "ok", "{trusted}");
    let refused: Value = public_roots.readyz().await.json().await.unwrap();
    assert_eq!(refused["fleet_cache"], "degraded", "{refused}");
    // The CA is for TLS servers only.
    let mut vars = sts.broker_vars();
    fleet_vars(&mut vars, "redis://127.0.0.1:6379");
    vars.insert("BROKER_REDIS_CA_FILE".into(), redis.ca_file());
    let error = sts_broker::config::Settings::from_map(&vars).unwrap_err();
    assert!(error.mentions("BROKER_REDIS_CA_FILE"), "{error}");
}
