//! Unit tests of [`Table`]: the indexes follow every change, and a selection (probed or
//! cached) is exactly what filtering and sorting every row gives.

use super::*;
use crate::sandbox::ocm::search::{parse_order, sort_items};
use serde_json::json;

const ATTRS: &[&str] = &["id", "sub.id", "state", "n"];

fn rows() -> Vec<Value> {
    vec![
        json!({"id": "a", "sub": {"id": "s1"}, "state": "ready", "n": 1}),
        json!({"id": "b", "sub": {"id": "s2"}, "state": "ready"}),
        json!({"id": 5, "sub": {"id": "s1"}, "state": "installing"}),
        json!({"id": "5.0", "sub": {"id": "s3"}, "state": "ready", "n": 3}),
        json!({"id": true, "sub": {"id": null}, "state": "ready"}),
        json!({"id": "2024-01-01T00:00:00Z", "state": "ready"}),
        json!({"id": "2024-01-01T00:00:00.000Z", "sub": {"id": "s2"}}),
        json!({"id": "t", "sub": {"id": 7}, "state": "error", "n": 2}),
        json!({"sub": {"id": "s1"}, "state": "ready"}),
        json!({"id": "a", "sub": {"id": "s4"}, "state": "ready"}),
    ]
}

fn table(objects: &[Value]) -> Table {
    let mut t = Table::new(&["id", "sub.id"]);
    for o in objects {
        t.push(o.clone(), ());
    }
    t
}

/// What the list endpoints did before tables: filter every row, then sort stably.
fn scan(objects: &[Value], search: &str, order: &str) -> Vec<Value> {
    let s = Search::parse(search, ATTRS).unwrap();
    let mut items: Vec<Value> = objects.iter().filter(|o| s.matches(o)).cloned().collect();
    sort_items(&mut items, &parse_order(order, ATTRS).unwrap());
    items
}

fn select(t: &mut Table, search: &str, order: &str) -> Vec<Value> {
    let s = Search::parse(search, ATTRS).unwrap();
    let o = parse_order(order, ATTRS).unwrap();
    let ids = t.select(Some((search, &s)), Some((order, &o)));
    t.objects(&ids)
}

#[test]
fn selections_are_what_a_scan_of_every_row_gives() {
    let objects = rows();
    let mut t = table(&objects);
    let searches = [
        "",
        "id = 'a'",
        "id = '5'",
        "id = 5",
        "id = 't'",
        "id = 'true'",
        "id in ('a', 'b', '5.0')",
        "id = '2024-01-01T00:00:00Z'",
        "id in ('2024-01-01T00:00:00.000Z')",
        "sub.id in ('s1', 's2') and state = 'ready'",
        "state = 'ready' and sub.id = 's1'",
        "id = 'a' or sub.id = 's2'",
        "id = 'a' or state = 'error'",
        "id = 'b' and sub.id in ('s1')",
        "id not in ('a') and sub.id = 's1'",
        "not id = 'a'",
        "sub.id = '7'",
        "sub.id = 7",
        "id like 'a%' and sub.id = 's4'",
        "sub.id is null",
    ];
    for search in searches {
        for order in ["", "id", "id desc, n", "state, id desc"] {
            assert_eq!(
                select(&mut t, search, order),
                scan(&objects, search, order),
                "search {search:?}, order {order:?}"
            );
            // The cached answer is the same answer.
            assert_eq!(select(&mut t, search, order), scan(&objects, search, order));
        }
    }
}

#[test]
fn indexes_and_selections_follow_every_change() {
    let mut objects = rows();
    let mut t = table(&objects);
    let before = select(&mut t, "sub.id = 's1'", "id");
    assert_eq!(before, scan(&objects, "sub.id = 's1'", "id"));

    // An edit moves the row between index entries and ends the cached selection.
    let first = t.first("id", "a").unwrap();
    t.edit(first, |o| o["sub"]["id"] = json!("s9"));
    objects[0]["sub"]["id"] = json!("s9");
    assert_eq!(
        select(&mut t, "sub.id = 's1'", "id"),
        scan(&objects, "sub.id = 's1'", "id")
    );
    assert_eq!(t.find("sub.id", "s9").collect::<Vec<_>>(), [first]);
    // Edited into a number: no longer found as text, still probed as a non-string value.
    t.edit(first, |o| o["sub"]["id"] = json!(9));
    objects[0]["sub"]["id"] = json!(9);
    assert_eq!(t.find("sub.id", "s9").count(), 0);
    assert_eq!(
        select(&mut t, "sub.id = '9'", ""),
        scan(&objects, "sub.id = '9'", "")
    );

    // Duplicate ids: `first` is the earliest; removing it leaves the later one.
    let dups: Vec<RowId> = t.find("id", "a").collect();
    assert_eq!(dups.len(), 2);
    assert!(dups[0] < dups[1]);
    t.remove(dups[0]);
    objects.remove(0);
    assert_eq!(t.first("id", "a"), Some(dups[1]));
    assert_eq!(t.len(), objects.len());
    for search in ["id = 'a'", "sub.id in ('s1', 's4')", ""] {
        assert_eq!(select(&mut t, search, "id"), scan(&objects, search, "id"));
    }

    // A push ends the cached selections too.
    t.push(json!({"id": "c", "sub": {"id": "s1"}}), ());
    objects.push(json!({"id": "c", "sub": {"id": "s1"}}));
    assert_eq!(
        select(&mut t, "sub.id = 's1'", "id"),
        scan(&objects, "sub.id = 's1'", "id")
    );

    // Replacing everything re-indexes, in the given order.
    let mut plain: Table = Table::new(&["id"]);
    plain.push(json!({"id": "x"}), ());
    plain.replace_all(vec![json!({"id": "y"}), json!({"id": "x"})]);
    assert_eq!(plain.to_vec(), [json!({"id": "y"}), json!({"id": "x"})]);
    let x = plain.first("id", "x").unwrap();
    assert!(plain.first("id", "y").unwrap() < x);
}

mod random {
    //! Random rows, changes and searches: the table still answers what a scan answers.

    use super::*;
    use proptest::prelude::*;

    const TEXTS: &[&str] = &[
        "a",
        "b",
        "5",
        "5.0",
        "t",
        "true",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.000Z",
    ];

    fn value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            4 => proptest::sample::select(TEXTS).prop_map(|s| Some(json!(s))),
            1 => Just(Some(json!(5))),
            1 => Just(Some(json!(true))),
            1 => Just(Some(Value::Null)),
            1 => Just(None),
        ]
    }

    fn object() -> impl Strategy<Value = Value> {
        (value(), value(), any::<bool>()).prop_map(|(id, sub, ready)| {
            let mut o = json!({"state": if ready { "ready" } else { "error" }});
            if let Some(id) = id {
                o["id"] = id;
            }
            if let Some(sub) = sub {
                o["sub"] = json!({"id": sub});
            }
            o
        })
    }

    fn search() -> impl Strategy<Value = String> {
        let text = || proptest::sample::select(TEXTS);
        let attr = || proptest::sample::select(&["id", "sub.id"][..]);
        let atom = prop_oneof![
            (attr(), text()).prop_map(|(a, t)| format!("{a} = '{t}'")),
            (attr(), text(), text()).prop_map(|(a, t, u)| format!("{a} in ('{t}', '{u}')")),
            (attr(), text()).prop_map(|(a, t)| format!("{a} not in ('{t}')")),
            attr().prop_map(|a| format!("{a} = 5")),
            attr().prop_map(|a| format!("{a} is null")),
            Just("state = 'ready'".to_owned()),
        ];
        atom.prop_recursive(3, 8, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
                inner.prop_map(|a| format!("not ({a})")),
            ]
        })
    }

    #[derive(Clone, Debug)]
    enum Change {
        Push(Value),
        Edit(usize, Value),
        Remove(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            object().prop_map(Change::Push),
            (any::<usize>(), object()).prop_map(|(i, o)| Change::Edit(i, o)),
            any::<usize>().prop_map(Change::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn the_table_answers_what_a_scan_answers(
            rows in proptest::collection::vec(object(), 0..12),
            changes in proptest::collection::vec(change(), 0..6),
            searches in proptest::collection::vec(search(), 1..4),
            order in proptest::sample::select(&["", "id", "id desc, state", "sub.id, id desc"][..]),
        ) {
            let mut objects = rows;
            let mut t = table(&objects);
            let mut ids: Vec<RowId> = t.find_all();
            for c in std::iter::once(None).chain(changes.into_iter().map(Some)) {
                match c {
                    None => {}
                    Some(Change::Push(o)) => {
                        ids.push(t.push(o.clone(), ()));
                        objects.push(o);
                    }
                    Some(Change::Edit(i, o)) if !ids.is_empty() => {
                        let i = i % ids.len();
                        t.edit(ids[i], |x| *x = o.clone());
                        objects[i] = o;
                    }
                    Some(Change::Remove(i)) if !ids.is_empty() => {
                        let i = i % ids.len();
                        t.remove(ids.remove(i));
                        objects.remove(i);
                    }
                    Some(_) => {}
                }
                for s in &searches {
                    prop_assert_eq!(select(&mut t, s, order), scan(&objects, s, order), "{}", s);
                }
                for text in TEXTS {
                    let found: Vec<RowId> = t.find("id", text).collect();
                    let expected: Vec<RowId> = ids
                        .iter()
                        .zip(&objects)
                        .filter(|(_, o)| o.get("id") == Some(&json!(text)))
                        .map(|(id, _)| *id)
                        .collect();
                    prop_assert_eq!(found, expected);
                }
            }
        }
    }

    impl Table {
        fn find_all(&self) -> Vec<RowId> {
            self.rows.keys().copied().collect()
        }
    }
}
