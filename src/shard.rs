//! Sharding: a cluster belongs to shard `hash(cluster uuid) mod N`, so that N processes (one
//! per shard, Kubernetes being the distributed engine) together do exactly what one process
//! does, and every token (named after its cluster) belongs to exactly one shard.
//!
//! The hash is stable across versions, platforms and processes: the first 8 bytes of
//! SHA-256 over the UTF-8 cluster external id (UUID, as OCM spells it), read as a big-endian
//! u64, modulo N. Changing it moves clusters between shards; do not. (qontract-reconcile
//! shards its integrations with md5; dtp's clusters are named per shard by this hash alone,
//! so the choice only matters within dtp: see docs/compatibility.md.)
//!
//! A shard is *named* by its key (`--shard-key` / `SHARD_KEY`, default `<id>-<count>`, as in
//! qontract-reconcile): the `shard_id` label of the `qontract_reconcile_*` metrics and the
//! `shard_id` of the Pushgateway group.

use crate::model::ExternalClusterId;
use sha2::{Digest, Sha256};

/// This process's share of the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub count: u32,
    pub id: u32,
    key: ShardKey,
}

impl Default for Shard {
    fn default() -> Self {
        Self::new(1, 0).unwrap_or(Self {
            count: 1,
            id: 0,
            key: ShardKey::EMPTY,
        })
    }
}

/// The name of a shard: 1 to [`ShardKey::MAX`] characters of `A-Z a-z 0-9 . _ -` (a label
/// value and a URL path segment as it is). Fixed-size, so a [`Shard`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShardKey {
    bytes: [u8; ShardKey::MAX],
    len: u8,
}

impl ShardKey {
    /// Longest key.
    pub const MAX: usize = 63;
    const EMPTY: Self = Self {
        bytes: [0; Self::MAX],
        len: 0,
    };

    /// Validates a key (the error says what is wrong, without the value's context).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if raw.is_empty() || raw.len() > Self::MAX || !raw.chars().all(ok) {
            return Err(format!(
                "must be 1 to {} characters of A-Z a-z 0-9 . _ -",
                Self::MAX
            ));
        }
        let mut key = Self::EMPTY;
        key.bytes[..raw.len()].copy_from_slice(raw.as_bytes());
        key.len = raw.len() as u8;
        Ok(key)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `parse`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for ShardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for ShardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Shard {
    /// Validates `--shards` / `--shard-id`.
    pub fn new(count: u32, id: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("--shards must be at least 1".into());
        }
        if id >= count {
            return Err(format!("--shard-id {id} must be below --shards {count}"));
        }
        let key = ShardKey::parse(&format!("{id}-{count}"))?;
        Ok(Self { count, id, key })
    }

    /// The same shard under another name (`--shard-key`).
    pub fn with_key(self, key: ShardKey) -> Self {
        Self { key, ..self }
    }

    /// The shard's name: `<id>-<count>` unless `--shard-key` gave another.
    pub fn key(&self) -> ShardKey {
        self.key
    }

    /// The shard a cluster belongs to.
    pub fn of(cluster: &ExternalClusterId, count: u32) -> u32 {
        let digest = Sha256::digest(cluster.as_str().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
    }

    /// Whether this shard serves the cluster.
    pub fn owns(&self, cluster: &ExternalClusterId) -> bool {
        self.count <= 1 || Self::of(cluster, self.count) == self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable() {
        // Fixed vectors: a change here moves clusters between shards.
        let c = ExternalClusterId::from("6f0c7e1a-1111-4222-8333-444455556666");
        assert_eq!(Shard::of(&c, 1), 0);
        let v: Vec<u32> = (2..=5).map(|n| Shard::of(&c, n)).collect();
        assert_eq!(v, vec![1, 0, 3, 2]);
    }

    #[test]
    fn every_cluster_belongs_to_exactly_one_shard() {
        for i in 0..200 {
            let c = ExternalClusterId::new(format!("{i:08x}-0000-4000-8000-{i:012x}"));
            for n in 1..=4 {
                let owners = (0..n)
                    .filter(|k| Shard::new(n, *k).unwrap().owns(&c))
                    .count();
                assert_eq!(owners, 1);
            }
        }
    }

    #[test]
    fn shards_spread_clusters() {
        let counts = (0..3000).fold([0u32; 3], |mut acc, i| {
            acc[Shard::of(&ExternalClusterId::new(format!("uuid-{i}")), 3) as usize] += 1;
            acc
        });
        assert!(counts.iter().all(|c| *c > 900), "{counts:?}");
    }

    #[test]
    fn invalid_shard_settings_are_refused() {
        assert!(Shard::new(0, 0).is_err());
        assert!(Shard::new(2, 2).is_err());
        assert!(Shard::new(2, 1).is_ok());
    }

    #[test]
    fn a_shard_is_named_id_dash_count_unless_a_key_is_given() {
        assert_eq!(Shard::default().key().as_str(), "0-1");
        let s = Shard::new(3, 2).unwrap();
        assert_eq!(s.key().as_str(), "2-3");
        let named = s.with_key(ShardKey::parse("eu-west.1_b").unwrap());
        assert_eq!(
            (named.key().as_str(), named.id, named.count),
            ("eu-west.1_b", 2, 3)
        );
        for bad in ["", "a/b", "a b", "ä", &"x".repeat(64)] {
            assert!(ShardKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
