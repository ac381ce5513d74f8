//! Sharding: a cluster belongs to shard `hash(cluster uuid) mod N`, so that N processes (one
//! per shard, Kubernetes being the distributed engine) together do exactly what one process
//! does, and every token (named after its cluster) belongs to exactly one shard.
//!
//! The hash is stable across versions, platforms and processes: the first 8 bytes of
//! SHA-256 over the UTF-8 cluster external id (UUID, as OCM spells it), read as a big-endian
//! u64, modulo N. Changing it moves clusters between shards; do not.

use crate::model::ExternalClusterId;
use sha2::{Digest, Sha256};

/// This process's share of the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub count: u32,
    pub id: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { count: 1, id: 0 }
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
        Ok(Self { count, id })
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
}
