//! [`Table`]: the objects of one OCM collection (labels, subscriptions, clusters, service
//! logs) in creation order, with hash indexes on chosen attributes and a cache of list
//! selections, so a request costs O(log n) or O(page) rather than a scan of the world. Every
//! change goes through a method that keeps the indexes right: `push`, `edit` (the object may
//! change in any way; it is re-indexed), `remove` and `replace_all`; `row_mut` reaches only
//! the per-row data that is no attribute of the object (a cluster's SyncSets and Manifests).
//! A list selection (the `search` matches in creation order, then sorted by `order`) is
//! computed once per `(search, order)` and serves the other pages until the table changes; a
//! search with an indexed equality every match needs ([`Search::probes`]) evaluates only the
//! rows the index names.

use super::search::{OrderTerm, Search, compare_by, lookup};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A row's place in creation order; stable while the row exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct RowId(u64);

struct Row<X> {
    object: Value,
    extra: X,
}

/// One attribute's index: the rows where it is a given string, and the rows where it is
/// another non-null value (which a string literal may still equal after conversion).
struct Index {
    attribute: &'static str,
    text: HashMap<String, BTreeSet<RowId>>,
    other: BTreeSet<RowId>,
}

impl Index {
    fn add(&mut self, id: RowId, object: &Value) {
        match lookup(object, self.attribute) {
            Some(Value::String(s)) => {
                self.text.entry(s.clone()).or_default().insert(id);
            }
            Some(_) => {
                self.other.insert(id);
            }
            None => {}
        }
    }

    fn remove(&mut self, id: RowId, object: &Value) {
        match lookup(object, self.attribute) {
            Some(Value::String(s)) => {
                if let Some(rows) = self.text.get_mut(s.as_str()) {
                    rows.remove(&id);
                    if rows.is_empty() {
                        self.text.remove(s.as_str());
                    }
                }
            }
            Some(_) => {
                self.other.remove(&id);
            }
            None => {}
        }
    }
}

/// The raw `search` and `order` parameters of a cached selection.
type SelectionKey = (Option<String>, Option<String>);

/// More distinct selections than this since the last change empty the cache.
const MAX_SELECTIONS: usize = 64;

/// The objects of one collection, in creation order, each with its `X`.
pub(super) struct Table<X = ()> {
    rows: BTreeMap<RowId, Row<X>>,
    next: u64,
    indexes: Vec<Index>,
    /// Selections of the current rows; emptied by every change.
    selections: HashMap<SelectionKey, Arc<[RowId]>>,
}

impl<X> Table<X> {
    /// An empty table indexing the given attribute paths (`subscription.id`).
    pub(super) fn new(indexed: &[&'static str]) -> Self {
        let indexes = indexed
            .iter()
            .map(|a| Index {
                attribute: a,
                text: HashMap::new(),
                other: BTreeSet::new(),
            })
            .collect();
        Self {
            rows: BTreeMap::new(),
            next: 0,
            indexes,
            selections: HashMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds a row after every other.
    pub(super) fn push(&mut self, object: Value, extra: X) -> RowId {
        let id = RowId(self.next);
        self.next += 1;
        for index in &mut self.indexes {
            index.add(id, &object);
        }
        self.rows.insert(id, Row { object, extra });
        self.selections.clear();
        id
    }

    pub(super) fn object(&self, id: RowId) -> Option<&Value> {
        self.rows.get(&id).map(|r| &r.object)
    }

    pub(super) fn row(&self, id: RowId) -> Option<(&Value, &X)> {
        self.rows.get(&id).map(|r| (&r.object, &r.extra))
    }

    /// The object (read-only: its attributes are indexed) and the row's own data.
    pub(super) fn row_mut(&mut self, id: RowId) -> Option<(&Value, &mut X)> {
        self.rows.get_mut(&id).map(|r| (&r.object, &mut r.extra))
    }

    /// Changes the object in any way; it is re-indexed afterwards.
    pub(super) fn edit<R>(&mut self, id: RowId, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        let row = self.rows.get_mut(&id)?;
        for index in &mut self.indexes {
            index.remove(id, &row.object);
        }
        let out = f(&mut row.object);
        for index in &mut self.indexes {
            index.add(id, &row.object);
        }
        self.selections.clear();
        Some(out)
    }

    pub(super) fn remove(&mut self, id: RowId) -> Option<(Value, X)> {
        let row = self.rows.remove(&id)?;
        for index in &mut self.indexes {
            index.remove(id, &row.object);
        }
        self.selections.clear();
        Some((row.object, row.extra))
    }

    /// Every row, in creation order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Value, &X)> {
        self.rows.values().map(|r| (&r.object, &r.extra))
    }

    fn index(&self, attribute: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.attribute == attribute)
    }

    /// The rows whose `attribute` is the string `text`, in creation order. Panics when the
    /// attribute has no index (a mistake in the sandbox).
    pub(super) fn find<'t>(
        &'t self,
        attribute: &str,
        text: &str,
    ) -> impl Iterator<Item = RowId> + use<'t, X> {
        let index = self
            .index(attribute)
            .unwrap_or_else(|| panic!("no index of '{attribute}'"));
        index.text.get(text).into_iter().flatten().copied()
    }

    /// The first row whose `attribute` is the string `text`.
    pub(super) fn first(&self, attribute: &str, text: &str) -> Option<RowId> {
        self.find(attribute, text).next()
    }

    /// The rows a list request selects: those `search` matches, in creation order, then
    /// sorted (stably) by `order`. Each is given with its raw text, the cache key.
    pub(super) fn select(
        &mut self,
        search: Option<(&str, &Search)>,
        order: Option<(&str, &[OrderTerm])>,
    ) -> Arc<[RowId]> {
        let key = (
            search.map(|s| s.0.to_owned()),
            order.map(|o| o.0.to_owned()),
        );
        if let Some(hit) = self.selections.get(&key) {
            return hit.clone();
        }
        let ids = match search {
            Some((_, s)) => self.matching(s),
            None => self.rows.keys().copied().collect(),
        };
        let ids: Arc<[RowId]> = match order {
            Some((_, terms)) if !terms.is_empty() => {
                let mut sorted: Vec<(RowId, &Value)> =
                    ids.iter().map(|id| (*id, &self.rows[id].object)).collect();
                sorted.sort_by(|a, b| compare_by(a.1, b.1, terms));
                sorted.into_iter().map(|(id, _)| id).collect()
            }
            _ => ids.into(),
        };
        if self.selections.len() >= MAX_SELECTIONS {
            self.selections.clear();
        }
        self.selections.insert(key, ids.clone());
        ids
    }

    /// The rows `search` matches, in creation order: the probed rows when an index answers
    /// the search's equalities, every row otherwise.
    fn matching(&self, search: &Search) -> Vec<RowId> {
        let size = |attribute: &str, value: &str| {
            self.index(attribute)
                .map(|i| i.text.get(value).map_or(0, BTreeSet::len) + i.other.len())
        };
        let matches = |id: &RowId| search.matches(&self.rows[id].object);
        let Some(probes) = search.probes(&size) else {
            return self.rows.keys().copied().filter(matches).collect();
        };
        let mut candidates = BTreeSet::new();
        for p in &probes {
            let index = self.index(&p.attribute).expect("probes name indexes");
            for v in &p.values {
                candidates.extend(index.text.get(v).into_iter().flatten());
            }
            candidates.extend(&index.other);
        }
        candidates.into_iter().filter(matches).collect()
    }

    /// The objects of `ids` (clones), for a page.
    pub(super) fn objects(&self, ids: &[RowId]) -> Vec<Value> {
        ids.iter()
            .filter_map(|id| self.object(*id).cloned())
            .collect()
    }
}

impl Table<()> {
    /// Replaces every row by `objects`, in that order (re-indexed).
    pub(super) fn replace_all(&mut self, objects: Vec<Value>) {
        let attributes: Vec<&'static str> = self.indexes.iter().map(|i| i.attribute).collect();
        *self = Self::new(&attributes);
        for o in objects {
            self.push(o, ());
        }
    }

    /// Every object (clones), in creation order.
    pub(super) fn to_vec(&self) -> Vec<Value> {
        self.iter().map(|(o, _)| o.clone()).collect()
    }
}

#[cfg(test)]
mod tests;
