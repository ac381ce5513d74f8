//! Evaluation of an Unleash feature object as qontract-reconcile's client (the Python
//! `UnleashClient` SDK plus its `enableCluster`/`disableCluster` strategies) evaluates it for
//! `get_feature_toggle_state(integration_name, context=None)`: the context holds only the
//! static `appName` (`qontract-reconcile`) and `environment` (`default`), and `currentTime`
//! for date constraints. No `userId`, `sessionId`, `remoteAddress` or `cluster_name`.
//!
//! Parameters and constraints are read leniently from JSON: a malformed one makes its strategy
//! false (logged at debug level), never the whole answer unreadable and never a panic.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::cmp::Ordering;
use std::hash::{BuildHasher, Hasher};

/// What dtp knows when it asks (see the module documentation).
#[derive(Clone, Debug)]
pub(super) struct Context {
    pub app_name: String,
    pub environment: String,
    /// The process hostname, for `applicationHostname`.
    pub hostname: Option<String>,
    pub now: DateTime<Utc>,
}

impl Context {
    /// The context of the integration-level check: qontract-reconcile's static context, the
    /// hostname from `HOSTNAME` or `/etc/hostname`, and the current time.
    pub fn integration(app_name: &str) -> Self {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
            });
        Self {
            app_name: app_name.to_owned(),
            environment: "default".to_owned(),
            hostname,
            now: Utc::now(),
        }
    }

    /// A context field by its Unleash name (`userId`, `sessionId`, `remoteAddress`, properties
    /// and `cluster_name` are never set).
    fn field(&self, name: &str) -> Option<&str> {
        match name {
            "appName" => Some(&self.app_name),
            "environment" => Some(&self.environment),
            _ => None,
        }
    }
}

/// Whether an enabled feature's strategies enable it: none, or any one of them.
pub(super) fn any_enabled(strategies: &[Value], feature: &str, ctx: &Context) -> bool {
    strategies.is_empty() || strategies.iter().any(|s| strategy_enabled(s, feature, ctx))
}

/// One strategy: its constraints all hold and the strategy itself answers true.
pub(super) fn strategy_enabled(strategy: &Value, feature: &str, ctx: &Context) -> bool {
    match evaluate(strategy, feature, ctx) {
        Ok(on) => on,
        Err(why) => {
            let name = strategy.get("name").and_then(Value::as_str).unwrap_or("?");
            tracing::debug!(strategy = name, "strategy counts as disabled: {why}");
            false
        }
    }
}

fn evaluate(strategy: &Value, feature: &str, ctx: &Context) -> Result<bool, String> {
    let name = strategy
        .get("name")
        .and_then(Value::as_str)
        .ok_or("the strategy has no name")?;
    let params = match strategy.get("parameters") {
        None | Some(Value::Null) => &serde_json::Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("parameters is not an object".into()),
    };
    let constraints = match strategy.get("constraints") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(c)) => c,
        Some(_) => return Err("constraints is not a list".into()),
    };
    for c in constraints {
        if !constraint_holds(c, ctx)? {
            return Ok(false);
        }
    }
    let param = |key: &str| params.get(key);
    Ok(match name {
        "default" => true,
        // qontract-reconcile's cluster strategies: without a `cluster_name` in the context
        // EnableClusterStrategy answers False and DisableClusterStrategy True.
        "enableCluster" => false,
        "disableCluster" => true,
        // Need a userId / sessionId / remoteAddress, which the context never has.
        "userWithId" | "gradualRolloutUserId" | "gradualRolloutSessionId" | "remoteAddress" => {
            false
        }
        "applicationHostname" => {
            let hosts = param("hostNames")
                .and_then(Value::as_str)
                .ok_or("hostNames is missing or not a string")?;
            let Some(me) = &ctx.hostname else {
                return Ok(false);
            };
            let me = me.to_lowercase();
            hosts.split(',').any(|h| h.trim().to_lowercase() == me)
        }
        "gradualRolloutRandom" => {
            let pct = percentage(param("percentage"), "percentage")?;
            pct > 0 && random_percentage() <= pct
        }
        "flexibleRollout" => {
            let rollout = percentage(param("rollout"), "rollout")?;
            let group = match param("groupId") {
                None | Some(Value::Null) => feature,
                Some(Value::String(g)) => g,
                Some(_) => return Err("groupId is not a string".into()),
            };
            let stickiness = match param("stickiness") {
                None | Some(Value::Null) => "default",
                Some(Value::String(s)) => s,
                Some(_) => return Err("stickiness is not a string".into()),
            };
            let value = match stickiness {
                // No userId, no sessionId: the default stickiness falls back to random.
                "default" | "random" => random_percentage(),
                "userId" | "sessionId" => return Ok(false),
                field => match ctx.field(field) {
                    Some(v) => normalized_value(v, group),
                    None => return Ok(false),
                },
            };
            rollout > 0 && value <= rollout
        }
        other => return Err(format!("unknown strategy '{other}'")),
    })
}

/// A percentage parameter: an integer, as a JSON number or string (Python's `int(...)`).
fn percentage(v: Option<&Value>, key: &str) -> Result<i64, String> {
    let parsed = match v {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    parsed.ok_or_else(|| format!("{key} is missing or not an integer"))
}

/// A random percentage in 1..=100, from std's randomly keyed hasher and the clock (the crate
/// has no random-number dependency of its own).
fn random_percentage() -> i64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    (h.finish() % 100) as i64 + 1
}

/// Unleash's `normalizedValue`: murmur3 (seed 0) of `"{group}:{id}"`, mod 100, plus 1.
fn normalized_value(id: &str, group: &str) -> i64 {
    i64::from(murmur3_32(format!("{group}:{id}").as_bytes(), 0) % 100) + 1
}

/// MurmurHash3, x86 32-bit.
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        h ^= mix(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &b| (k << 8) | u32::from(b));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// A constraint: `Ok(holds)`, or `Err` when it cannot be read at all (its strategy is then
/// false). As in the Python SDK, a comparison that cannot be made (an unparsable number, date
/// or version) is a failed check, which `inverted` then turns around; a missing context field
/// fails every operator except `NOT_IN`.
fn constraint_holds(c: &Value, ctx: &Context) -> Result<bool, String> {
    let field = c
        .get("contextName")
        .and_then(Value::as_str)
        .ok_or("a constraint has no contextName")?;
    let op = c
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("a constraint has no operator")?;
    let flag = |key: &str| match c.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("constraint {key} is not a boolean")),
    };
    let inverted = flag("inverted")?;
    let case_insensitive = flag("caseInsensitive")?;
    let values: Vec<&str> = match c.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => vs
            .iter()
            .map(|v| v.as_str().ok_or("constraint values are not strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("constraint values is not a list".into()),
    };
    let value: Option<String> = match c.get("value") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    const KNOWN: [&str; 15] = [
        "IN",
        "NOT_IN",
        "STR_CONTAINS",
        "STR_STARTS_WITH",
        "STR_ENDS_WITH",
        "NUM_EQ",
        "NUM_GT",
        "NUM_GTE",
        "NUM_LT",
        "NUM_LTE",
        "DATE_AFTER",
        "DATE_BEFORE",
        "SEMVER_EQ",
        "SEMVER_GT",
        "SEMVER_LT",
    ];
    if !KNOWN.contains(&op) {
        return Err(format!("unknown constraint operator '{op}'"));
    }
    let now;
    let actual: Option<&str> = if field == "currentTime" {
        now = ctx.now.to_rfc3339();
        Some(&now)
    } else {
        ctx.field(field)
    };
    let check = match actual {
        None => op == "NOT_IN",
        Some(actual) => operator(op, actual, &values, value.as_deref(), case_insensitive),
    };
    Ok(check != inverted)
}

/// One known operator on a present context value (before inversion).
fn operator(op: &str, actual: &str, values: &[&str], value: Option<&str>, ci: bool) -> bool {
    let norm = |s: &str| if ci { s.to_uppercase() } else { s.to_owned() };
    let num = |s: &str| s.trim().parse::<f64>().ok();
    let date = |s: &str| DateTime::parse_from_rfc3339(s.trim()).ok();
    match op {
        "IN" => values.contains(&actual),
        "NOT_IN" => !values.contains(&actual),
        "STR_CONTAINS" | "STR_STARTS_WITH" | "STR_ENDS_WITH" => {
            let a = norm(actual);
            values.iter().map(|v| norm(v)).any(|v| match op {
                "STR_CONTAINS" => a.contains(&v),
                "STR_STARTS_WITH" => a.starts_with(&v),
                _ => a.ends_with(&v),
            })
        }
        "NUM_EQ" | "NUM_GT" | "NUM_GTE" | "NUM_LT" | "NUM_LTE" => {
            let (Some(a), Some(b)) = (num(actual), value.and_then(num)) else {
                return false;
            };
            match op {
                "NUM_EQ" => a == b,
                "NUM_GT" => a > b,
                "NUM_GTE" => a >= b,
                "NUM_LT" => a < b,
                _ => a <= b,
            }
        }
        "DATE_AFTER" | "DATE_BEFORE" => {
            let (Some(a), Some(b)) = (date(actual), value.and_then(date)) else {
                return false;
            };
            if op == "DATE_AFTER" { a > b } else { a < b }
        }
        _ => {
            let (Some(a), Some(b)) = (Semver::parse(actual), value.and_then(Semver::parse)) else {
                return false;
            };
            let ord = a.cmp(&b);
            match op {
                "SEMVER_EQ" => ord == Ordering::Equal,
                "SEMVER_GT" => ord == Ordering::Greater,
                _ => ord == Ordering::Less,
            }
        }
    }
}

/// A semantic version (2.0.0) for the `SEMVER_*` operators; build metadata is ignored.
#[derive(Debug, PartialEq, Eq)]
struct Semver {
    core: [u64; 3],
    pre: Vec<String>,
}

impl Semver {
    fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s
            .split_once('+')
            .map_or(s, |(v, build)| if build.is_empty() { "" } else { v });
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let numeric = |p: &str| {
            (!p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0')))
            .then(|| p.parse::<u64>().ok())
            .flatten()
        };
        let mut parts = core.split('.');
        let mut next = || parts.next().and_then(numeric);
        let version = [next()?, next()?, next()?];
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => {
                let ids: Vec<String> = p.split('.').map(str::to_owned).collect();
                let valid = |id: &String| {
                    !id.is_empty()
                        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !(id.len() > 1
                            && id.starts_with('0')
                            && id.bytes().all(|b| b.is_ascii_digit()))
                };
                if !ids.iter().all(valid) {
                    return None;
                }
                ids
            }
        };
        Some(Self { core: version, pre })
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let ord = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests;
