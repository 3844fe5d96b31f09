//! Wire compatibility: types prost-build makes from our exported `.proto` and our generated types
//! decode each other's bytes, both ways, to the corresponding values.
//!
//! The `prost_build.rs` files are golden outputs of protox + prost-build on each case's exported
//! `.proto` (kept fresh by the golden test), so a drift between our Rust and our `.proto` shows
//! up here as a decoding mismatch.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Debug;

use prost::Message;

#[path = "golden/enums_oneofs/expected/input/mod.rs"]
#[rustfmt::skip]
mod ours_events;
#[rustfmt::skip]
mod theirs_events {
    include!("golden/enums_oneofs/prost_build.rs");
}

#[path = "golden/field_types/expected/input/mod.rs"]
#[rustfmt::skip]
mod ours_types;
#[rustfmt::skip]
mod theirs_types {
    include!("golden/field_types/prost_build.rs");
}

#[path = "golden/nested_messages/expected/input/mod.rs"]
#[rustfmt::skip]
mod ours_tree;
#[rustfmt::skip]
mod theirs_tree {
    include!("golden/nested_messages/prost_build.rs");
}

#[path = "golden/pinned_tags/expected/input/mod.rs"]
#[rustfmt::skip]
mod ours_evolve;
#[rustfmt::skip]
mod theirs_evolve {
    include!("golden/pinned_tags/prost_build.rs");
}

/// `ours` and `theirs` are the same value in the two representations: each side decodes the
/// other's encoding to exactly the other value.
fn assert_same_wire<A, B>(ours: &A, theirs: &B)
where
    A: Message + Default + PartialEq + Debug,
    B: Message + Default + PartialEq + Debug,
{
    let from_ours = B::decode(ours.encode_to_vec().as_slice()).expect("prost-build decodes ours");
    assert_eq!(&from_ours, theirs, "prost-build's reading of our bytes");
    let from_theirs = A::decode(theirs.encode_to_vec().as_slice()).expect("we decode theirs");
    assert_eq!(&from_theirs, ours, "our reading of prost-build's bytes");
}

#[test]
fn enums_and_oneofs() {
    use ours_events as o;
    use theirs_events as t;
    let ours = o::Event {
        id: 7,
        level: o::Level::Warning as i32,
        previous_level: Some(o::Level::Debug as i32),
        channels: vec![o::Channel::Email as i32, o::Channel::Sms as i32],
        per_user: HashMap::from([("ann".to_string(), o::Level::Error as i32)]),
        body: Some(o::Body::Reply(Box::new(o::Event {
            id: 8,
            body: Some(o::Body::Attachment(o::Attachment {
                name: "a.txt".into(),
                data: vec![0, 1, 2, 255],
            })),
            route: Some(o::Route::User(3)),
            ..Default::default()
        }))),
        route: Some(o::Route::Topic("news".into())),
    };
    let theirs = t::Event {
        id: 7,
        level: t::Level::Warning as i32,
        previous_level: Some(t::Level::Debug as i32),
        channels: vec![t::Channel::Email as i32, t::Channel::Sms as i32],
        per_user: HashMap::from([("ann".to_string(), t::Level::Error as i32)]),
        body: Some(t::event::Body::Reply(Box::new(t::Event {
            id: 8,
            body: Some(t::event::Body::Attachment(t::Attachment {
                name: "a.txt".into(),
                data: vec![0, 1, 2, 255],
            })),
            route: Some(t::event::Route::User(3)),
            ..Default::default()
        }))),
        route: Some(t::event::Route::Topic("news".into())),
    };
    assert_same_wire(&ours, &theirs);
    // Every oneof member, one at a time.
    let members = [
        (
            o::Body::Text("hi".into()),
            t::event::Body::Text("hi".into()),
        ),
        (o::Body::Raw(vec![9]), t::event::Body::Raw(vec![9])),
        (o::Body::Count(u64::MAX), t::event::Body::Count(u64::MAX)),
        (
            o::Body::Severity(o::Level::Info as i32),
            t::event::Body::Severity(t::Level::Info as i32),
        ),
    ];
    for (ours_body, theirs_body) in members {
        let ours = o::Event {
            body: Some(ours_body),
            ..Default::default()
        };
        let theirs = t::Event {
            body: Some(theirs_body),
            ..Default::default()
        };
        assert_same_wire(&ours, &theirs);
    }
    // The enum numbering and names agree with prost-build's.
    assert_eq!(
        o::Level::Warning.as_str_name(),
        t::Level::Warning.as_str_name()
    );
    assert_eq!(o::Level::Debug as i32, t::Level::Debug as i32);
}

#[test]
fn every_field_type() {
    use ours_types as o;
    use theirs_types as t;
    let ours = o::Everything {
        scalars: o::Scalars {
            text: "text".into(),
            data: vec![1, 2, 3],
            flag: true,
            small: -5,
            large: i64::MIN,
            small_unsigned: u32::MAX,
            large_unsigned: u64::MAX,
            single: 1.5,
            double: -2.25,
        },
        optionals: o::Optionals {
            text: Some(String::new()),
            data: Some(Vec::new()),
            flag: Some(false),
            small: Some(0),
            large: None,
            small_unsigned: Some(7),
            large_unsigned: None,
            single: Some(0.0),
            double: Some(3.0),
        },
        repeated: o::Repeated {
            texts: vec!["a".into(), String::new()],
            blobs: vec![vec![], vec![1]],
            flags: vec![true, false],
            smalls: vec![-1, 0, 1],
            larges: vec![i64::MAX],
            small_unsigneds: vec![1, 2],
            large_unsigneds: vec![3],
            singles: vec![0.5],
            doubles: vec![0.25, 4.0],
        },
        maps: o::Maps {
            texts: HashMap::from([("k".into(), "v".into())]),
            blobs: HashMap::from([("k".into(), vec![0])]),
            flags: HashMap::from([("k".into(), true)]),
            smalls: HashMap::from([("k".into(), -1)]),
            larges: HashMap::from([("k".into(), -2)]),
            small_unsigneds: HashMap::from([("k".into(), 3)]),
            large_unsigneds: HashMap::from([("k".into(), 4)]),
            singles: HashMap::from([("k".into(), 5.5)]),
            doubles: HashMap::from([("k".into(), 6.5)]),
        },
    };
    let theirs = t::Everything {
        scalars: Some(t::Scalars {
            text: "text".into(),
            data: vec![1, 2, 3],
            flag: true,
            small: -5,
            large: i64::MIN,
            small_unsigned: u32::MAX,
            large_unsigned: u64::MAX,
            single: 1.5,
            double: -2.25,
        }),
        optionals: Some(t::Optionals {
            text: Some(String::new()),
            data: Some(Vec::new()),
            flag: Some(false),
            small: Some(0),
            large: None,
            small_unsigned: Some(7),
            large_unsigned: None,
            single: Some(0.0),
            double: Some(3.0),
        }),
        repeated: Some(t::Repeated {
            texts: vec!["a".into(), String::new()],
            blobs: vec![vec![], vec![1]],
            flags: vec![true, false],
            smalls: vec![-1, 0, 1],
            larges: vec![i64::MAX],
            small_unsigneds: vec![1, 2],
            large_unsigneds: vec![3],
            singles: vec![0.5],
            doubles: vec![0.25, 4.0],
        }),
        maps: Some(t::Maps {
            texts: HashMap::from([("k".into(), "v".into())]),
            blobs: HashMap::from([("k".into(), vec![0])]),
            flags: HashMap::from([("k".into(), true)]),
            smalls: HashMap::from([("k".into(), -1)]),
            larges: HashMap::from([("k".into(), -2)]),
            small_unsigneds: HashMap::from([("k".into(), 3)]),
            large_unsigneds: HashMap::from([("k".into(), 4)]),
            singles: HashMap::from([("k".into(), 5.5)]),
            doubles: HashMap::from([("k".into(), 6.5)]),
        }),
    };
    assert_same_wire(&ours, &theirs);
}

#[test]
fn nested_and_recursive_messages() {
    use ours_tree as o;
    use theirs_tree as t;
    let ours = o::Layout {
        root: o::Node {
            name: "root".into(),
            bounds: o::Rect {
                top_left: o::Point { x: 1.0, y: 2.0 },
                bottom_right: Some(o::Point { x: 3.0, y: 4.0 }),
            },
            parent: Some(Box::new(o::Node {
                name: "up".into(),
                ..Default::default()
            })),
            children: vec![o::Node {
                name: "child".into(),
                ..Default::default()
            }],
            by_name: HashMap::from([(
                "k".into(),
                o::Node {
                    name: "mapped".into(),
                    ..Default::default()
                },
            )]),
        },
        marks: vec![o::Point { x: 0.5, y: 0.5 }],
    };
    // Our always-present message fields are encoded even when empty, so prost-build reads them
    // as `Some(default)`.
    let empty_rect = Some(t::Rect {
        top_left: Some(t::Point::default()),
        bottom_right: None,
    });
    let theirs = t::Layout {
        root: Some(t::Node {
            name: "root".into(),
            bounds: Some(t::Rect {
                top_left: Some(t::Point { x: 1.0, y: 2.0 }),
                bottom_right: Some(t::Point { x: 3.0, y: 4.0 }),
            }),
            parent: Some(Box::new(t::Node {
                name: "up".into(),
                bounds: empty_rect,
                ..Default::default()
            })),
            children: vec![t::Node {
                name: "child".into(),
                bounds: empty_rect,
                ..Default::default()
            }],
            by_name: HashMap::from([(
                "k".into(),
                t::Node {
                    name: "mapped".into(),
                    bounds: empty_rect,
                    ..Default::default()
                },
            )]),
        }),
        marks: vec![t::Point { x: 0.5, y: 0.5 }],
    };
    assert_same_wire(&ours, &theirs);
}

#[test]
fn pinned_tags() {
    use ours_evolve as o;
    use theirs_evolve as t;
    let ours = o::Profile {
        id: 1,
        email: "a@b".into(),
        display_name: "A".into(),
        tags: vec!["x".into()],
        added_later: Some("later".into()),
        after_that: true,
        contact: Some(o::Contact::Pager(5)),
        far_away: 9,
    };
    let theirs = t::Profile {
        id: 1,
        email: "a@b".into(),
        display_name: "A".into(),
        tags: vec!["x".into()],
        added_later: Some("later".into()),
        after_that: true,
        contact: Some(t::profile::Contact::Pager(5)),
        far_away: 9,
    };
    assert_same_wire(&ours, &theirs);
    assert_same_wire(&o::ProfileId { id: 3 }, &t::ProfileId { id: 3 });
}
