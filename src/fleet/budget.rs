//! One STS budget for the whole fleet: `BROKER_STS_MAX_QPS` calls per second across every
//! replica, as GCRA in a Lua script (protocol.md §13.2) on two keys passed in `KEYS` with one
//! hash tag, so they hash to one slot as clustered Tair (through its proxy endpoint) requires:
//! every call takes from `all`, a first load also from
//! `first`, whose rate leaves `BROKER_STS_REFRESH_RESERVE_PERCENT` to refreshes. Bursts are at
//! most one second's budget. The time is Redis's own (`TIME`), so replicas' clocks do not
//! matter.
//!
//! When Redis cannot be used, a replica falls back to a local budget of its share:
//! `BROKER_STS_MAX_QPS` divided by the replicas seen in the last 30 seconds (rounded up), so a
//! fleet that loses Redis together still stays near the quota. Budget state no replica would
//! write (not a number, or further ahead than one burst: a writer without the seal key trying
//! to stop the fleet's STS calls) counts as Redis trouble too: the key is deleted, the call
//! takes from the local share, and the event is counted and shown in `/readyz`.
//!
//! Whatever Redis answers, one replica never sends more than `BROKER_STS_MAX_QPS` a second
//! itself (its own ceiling), so a Redis that always says yes, or budget keys deleted in a
//! loop, cannot multiply the fleet's calls beyond the replica count.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::Fleet;
use crate::sts::retry::{CallBudget, CallGate, Priority};

/// Replicas heartbeat this often, and count those seen within [`REPLICA_WINDOW`].
const HEARTBEAT: Duration = Duration::from_secs(5);
pub(super) const REPLICA_WINDOW: Duration = Duration::from_secs(30);

/// Answers 1 (allowed), 0 (spent) or -1: a key held state no replica writes (not a number, or
/// further ahead than one burst), so the budget cannot be trusted; the key is deleted and the
/// caller falls back to its local share.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1483228800) + tonumber(t[2]) / 1000000
local function check(key, rate, burst)
  local interval = 1 / rate
  local raw = redis.call('GET', key)
  local tat = now
  if raw then
    tat = tonumber(raw)
    -- A replica never stores a time more than one burst ahead (plus a second of slack).
    if tat == nil or tat ~= tat or tat > now + interval * burst + 1 then
      redis.call('DEL', key)
      return nil
    end
  end
  if tat < now then tat = now end
  local new_tat = tat + interval
  return new_tat, now - (new_tat - interval * burst)
end
-- A burst of one second's budget, but never less than one call.
local all_tat, all_room = check(KEYS[1], tonumber(ARGV[1]), math.max(tonumber(ARGV[1]), 1))
if all_tat == nil then return -1 end
if all_room < 0 then return 0 end
local first_tat = nil
if ARGV[3] == 'first' then
  local room
  first_tat, room = check(KEYS[2], tonumber(ARGV[2]), math.max(tonumber(ARGV[2]), 1))
  if first_tat == nil then return -1 end
  if room < 0 then return 0 end
end
redis.call('SET', KEYS[1], tostring(all_tat), 'PX', math.ceil((all_tat - now) * 1000) + 1)
if first_tat then
  redis.call('SET', KEYS[2], tostring(first_tat), 'PX', math.ceil((first_tat - now) * 1000) + 1)
end
return 1
"#;

/// Heartbeat on Redis's clock (`TIME`), so replicas with wrong clocks still count each
/// other: adds this replica, drops those not seen within the window, answers the count and
/// Redis's time in milliseconds.
pub(super) const HEARTBEAT_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {redis.call('ZCARD', KEYS[1]), now}
"#;

/// A replica's clock this far off Redis's is warned about.
const CLOCK_TOLERANCE: Duration = Duration::from_secs(2);
/// How often a skewed clock is warned about again.
const SKEW_WARNING_EVERY: Duration = Duration::from_secs(300);

/// The fleet-wide [`CallGate`].
pub struct FleetBudget {
    fleet: Arc<Fleet>,
    max_qps: u32,
    reserve_percent: u8,
    script: redis::Script,
    /// The local share used while Redis cannot be: rebuilt when the replica count changes.
    local: Mutex<(u32, Arc<CallBudget>)>,
    /// This replica's own ceiling, whatever Redis says: the whole budget.
    ceiling: CallBudget,
}

impl std::fmt::Debug for FleetBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBudget")
            .field("max_qps", &self.max_qps)
            .field("reserve_percent", &self.reserve_percent)
            .finish()
    }
}

impl FleetBudget {
    pub fn new(fleet: Arc<Fleet>, max_qps: u32, reserve_percent: u8) -> Self {
        Self {
            local: Mutex::new((
                1,
                Arc::new(CallBudget::with_reserve(max_qps, reserve_percent)),
            )),
            fleet,
            max_qps: max_qps.max(1),
            reserve_percent,
            script: redis::Script::new(GCRA),
            ceiling: CallBudget::with_reserve(max_qps, reserve_percent),
        }
    }

    /// This replica's share of the budget when it works alone.
    pub fn local_share(&self) -> u32 {
        self.max_qps.div_ceil(self.fleet.replicas())
    }

    fn local(&self) -> Arc<CallBudget> {
        let replicas = self.fleet.replicas();
        let mut local = crate::sync::lock(&self.local);
        if local.0 != replicas {
            *local = (
                replicas,
                Arc::new(CallBudget::with_reserve(
                    self.local_share(),
                    self.reserve_percent,
                )),
            );
        }
        local.1.clone()
    }

    /// `Some(allowed)` from the fleet's budget; `None` when Redis cannot be used or its budget
    /// state is not one a replica wrote.
    async fn acquire_shared(&self, priority: Priority) -> Option<bool> {
        let first_rate = (f64::from(self.max_qps) * f64::from(100 - self.reserve_percent.min(100))
            / 100.0)
            .max(0.001);
        // One hash tag for both keys (one cluster slot), named after the deployment.
        let tag = format!("{{{}}}:", self.fleet.deployment_key("sts-budget"));
        let mut conn = self.fleet.conn();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.fleet.key(&tag, "all"))
            .key(self.fleet.key(&tag, "first"))
            .arg(self.max_qps)
            .arg(first_rate.to_string())
            .arg(match priority {
                Priority::First => "first",
                Priority::Refresh => "refresh",
            });
        let answer: i64 = self
            .fleet
            .run(invocation.invoke_async(&mut conn))
            .await
            .ok()?;
        match answer {
            1 => Some(true),
            0 => Some(false),
            _ => {
                self.fleet
                    .invalid_state("the STS budget's state (not a number, or too far ahead)");
                None
            }
        }
    }
}

impl CallGate for FleetBudget {
    fn acquire(&self, priority: Priority) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            match self.acquire_shared(priority).await {
                Some(allowed) => allowed && self.ceiling.try_acquire_as(priority),
                None => {
                    self.fleet.health.budget_local();
                    self.local().try_acquire_as(priority)
                }
            }
        })
    }
}

impl Fleet {
    /// Announces this replica every few seconds and counts the replicas seen lately (for the
    /// local share of the budget). Runs until the process ends.
    pub fn spawn_heartbeat(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let fleet = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(fleet) = fleet.upgrade() else { return };
                fleet.heartbeat().await;
                drop(fleet);
                tokio::time::sleep(HEARTBEAT).await;
            }
        });
    }

    async fn heartbeat(&self) {
        let key = self.key("", &self.deployment_key("replicas"));
        let mut conn = self.conn();
        let mut invocation = self.heartbeat_script.prepare_invoke();
        invocation
            .key(&key)
            .arg(&self.replica_id)
            .arg(REPLICA_WINDOW.as_millis() as u64);
        let answer: Result<(u32, i64), _> = self.run(invocation.invoke_async(&mut conn)).await;
        if let Ok((replicas, redis_ms)) = answer {
            self.replicas.store(replicas.max(1), Ordering::Relaxed);
            self.check_clock(redis_ms);
        }
    }

    /// Warns (at most every few minutes) when this replica's clock is off Redis's: the
    /// heartbeats are scored on Redis's clock, but the credentials' expiry checks, JWT times and
    /// signatures use this one.
    fn check_clock(&self, redis_ms: i64) {
        let skew_ms = self.clock.now().timestamp_millis() - redis_ms;
        if skew_ms.abs() <= CLOCK_TOLERANCE.as_millis() as i64 {
            return;
        }
        let mut last = crate::sync::lock(&self.skew_warned_at);
        if last.is_some_and(|at| at.elapsed() < SKEW_WARNING_EVERY) {
            return;
        }
        *last = Some(tokio::time::Instant::now());
        tracing::warn!(
            skew_ms,
            "this replica's clock is off Redis's clock by more than 2 s; check its time synchronisation (NTP)"
        );
    }
}
