//! Reads against a real DynamoDB-compatible server: pagination with filters, partner
//! scoping, cursors, history, the sweep index, checkpoints.

mod common;

use std::collections::HashSet;

use common::*;
use domain::*;
use store::{ListQuery, PageSize, StoreError};

async fn seed(h: &Harness, partner: &str, count: usize) -> Vec<ServiceRequest> {
    let mut created = Vec::new();
    for i in 0..count {
        let severity = ["A", "B", "C"][i % 3];
        let product = if i % 2 == 0 { "azure" } else { "office365" };
        let customer = if i % 4 == 0 { CUSTOMER_B } else { CUSTOMER_A };
        let (request, event) = open(partner, customer, severity, product, t0() + minutes(i as i64));
        h.store.create_request(&request, &event, None).await.unwrap();
        created.push(request);
    }
    created
}

async fn all_pages(h: &Harness, partner: &str, query: &ListQuery) -> (Vec<ServiceRequest>, usize) {
    let partner = PartnerId::parse(partner).unwrap();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = h.store.list(&partner, query, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= usize::from(query.limit.get()));
        pages += 1;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (items, pages),
        }
    }
}

fn newest_first(mut expected: Vec<ServiceRequest>) -> Vec<ServiceRequest> {
    expected.sort_by_key(|r| std::cmp::Reverse(r.id()));
    expected
}

#[tokio::test]
async fn pagination_with_filters_returns_each_match_once_newest_first() {
    let h = Harness::new().await;
    let created = seed(&h, "partner-a", 30).await;
    seed(&h, "partner-b", 5).await;

    let everything = ListQuery {
        limit: PageSize::new(7).unwrap(),
        ..ListQuery::default()
    };
    let (items, pages) = all_pages(&h, "partner-a", &everything).await;
    assert_eq!(items, newest_first(created.clone()));
    assert!(pages >= 5, "{pages} pages");

    type Keep = Box<dyn Fn(&ServiceRequest) -> bool>;
    let cases: Vec<(ListQuery, Keep)> = vec![
        (
            ListQuery {
                severity: Some(Severity::A),
                ..ListQuery::default()
            },
            Box::new(|r| r.severity() == Severity::A),
        ),
        (
            ListQuery {
                product: Some(Product::Office365),
                ..ListQuery::default()
            },
            Box::new(|r| r.product() == Product::Office365),
        ),
        (
            ListQuery {
                severity: Some(Severity::B),
                product: Some(Product::Azure),
                ..ListQuery::default()
            },
            Box::new(|r| r.severity() == Severity::B && r.product() == Product::Azure),
        ),
        (
            ListQuery {
                status: Some(Status::Open),
                ..ListQuery::default()
            },
            Box::new(|_| true),
        ),
        (
            ListQuery {
                status: Some(Status::Closed),
                ..ListQuery::default()
            },
            Box::new(|_| false),
        ),
        (
            ListQuery {
                customer: Some(CustomerId::parse(CUSTOMER_B).unwrap()),
                ..ListQuery::default()
            },
            Box::new(|r| r.customer_id().map(CustomerId::as_str) == Some(CUSTOMER_B)),
        ),
        (
            ListQuery {
                created_from: Some(Timestamp::from(t0() + minutes(10))),
                created_to: Some(Timestamp::from(t0() + minutes(19))),
                ..ListQuery::default()
            },
            Box::new(|r| (t0() + minutes(10)..=t0() + minutes(19)).contains(&r.created_at().datetime())),
        ),
        (
            ListQuery {
                customer: Some(CustomerId::parse(CUSTOMER_A).unwrap()),
                severity: Some(Severity::C),
                created_from: Some(Timestamp::from(t0() + minutes(5))),
                ..ListQuery::default()
            },
            Box::new(|r| {
                r.customer_id().map(CustomerId::as_str) == Some(CUSTOMER_A)
                    && r.severity() == Severity::C
                    && r.created_at().datetime() >= t0() + minutes(5)
            }),
        ),
    ];
    for (mut query, keep) in cases {
        query.limit = PageSize::new(4).unwrap();
        let (items, _) = all_pages(&h, "partner-a", &query).await;
        let expected = newest_first(created.iter().filter(|r| keep(r)).cloned().collect());
        assert_eq!(
            items.iter().map(ServiceRequest::id).collect::<Vec<_>>(),
            expected.iter().map(ServiceRequest::id).collect::<Vec<_>>(),
            "{query:?}"
        );
        let unique: HashSet<_> = items.iter().map(ServiceRequest::id).collect();
        assert_eq!(unique.len(), items.len(), "no duplicates across pages");
    }
}

#[tokio::test]
async fn one_query_and_one_batched_read_per_page() {
    let h = Harness::new().await;
    seed(&h, "partner-a", 12).await;
    let partner = PartnerId::parse("partner-a").unwrap();
    let query = ListQuery {
        limit: PageSize::new(5).unwrap(),
        severity: Some(Severity::A),
        ..ListQuery::default()
    };
    let before = h.store.round_trips();
    let page = h.store.list(&partner, &query, None).await.unwrap();
    // The page's query, then one batched read of its personal values and of its customers'
    // relationships (whether any has ended): two, however many customers the partner has.
    assert_eq!(h.store.round_trips() - before, 2);
    assert!(page.next_cursor.is_some());
    assert!(page.items.iter().all(|r| r.title().as_str().is_some()), "joined back");
    // One customer's list needs no relationship query (the API checked that one first).
    let mut one = query.clone();
    one.customer = Some(page.items[0].customer_id().cloned().expect("seeded for a customer"));
    let before = h.store.round_trips();
    h.store.list(&partner, &one, None).await.unwrap();
    assert_eq!(h.store.round_trips() - before, 2);
}

#[tokio::test]
async fn the_list_across_customers_leaves_out_ended_relationships_reading_only_its_pages_customers() {
    let h = Harness::new().await;
    let created = seed(&h, "partner-a", 12).await;
    // Customer B's relationship has ended; A's is active; and the partner once had 300 more
    // customers, all ended, none with a request on any page.
    h.relate_as("partner-a", CUSTOMER_A, "active").await;
    h.relate_as("partner-a", CUSTOMER_B, "terminated").await;
    for i in 0..300 {
        h.relate_as("partner-a", &format!("00000000-0000-4000-8000-{i:012}"), "terminated")
            .await;
    }
    let query = ListQuery {
        limit: PageSize::new(5).unwrap(),
        ..ListQuery::default()
    };
    let before = h.store.round_trips();
    let (items, pages) = all_pages(&h, "partner-a", &query).await;
    let a = CustomerId::parse(CUSTOMER_A).unwrap();
    let expected: Vec<_> = newest_first(created)
        .into_iter()
        .filter(|r| r.customer_id() == Some(&a))
        .map(|r| r.id())
        .collect();
    assert_eq!(items.iter().map(ServiceRequest::id).collect::<Vec<_>>(), expected);
    // Two round trips a page (its query, then one batched read of its personal values and
    // its customers' relationships): the partner's other relationships are never read.
    assert_eq!(h.store.round_trips() - before, 2 * pages as u64);
    // Ended again, then active: the requests come back (nothing was changed, only left out).
    h.relate_as("partner-a", CUSTOMER_B, "active").await;
    let (items, _) = all_pages(&h, "partner-a", &query).await;
    assert_eq!(items.len(), 12);
}

#[tokio::test]
async fn another_partner_sees_nothing_of_partner_a() {
    let h = Harness::new().await;
    let a_requests = seed(&h, "partner-a", 8).await;
    let b = PartnerId::parse("partner-b").unwrap();
    let a = PartnerId::parse("partner-a").unwrap();
    for request in &a_requests {
        assert!(h.store.get_request(&b, request.id()).await.unwrap().is_none());
        assert!(h.store.history(&b, request.id()).await.unwrap().lines.is_empty());
    }
    let page = h.store.list(&b, &ListQuery::default(), None).await.unwrap();
    assert!(page.items.is_empty());
    let by_customer = ListQuery {
        customer: Some(CustomerId::parse(CUSTOMER_A).unwrap()),
        ..ListQuery::default()
    };
    assert!(h.store.list(&b, &by_customer, None).await.unwrap().items.is_empty());

    // A's cursor cannot page into A's data for B.
    let small = ListQuery {
        limit: PageSize::new(3).unwrap(),
        ..ListQuery::default()
    };
    let cursor = h.store.list(&a, &small, None).await.unwrap().next_cursor.unwrap();
    assert!(matches!(
        h.store.list(&b, &small, Some(&cursor)).await,
        Err(StoreError::InvalidCursor)
    ));
    // …nor continue a different query for A.
    let other = ListQuery {
        severity: Some(Severity::A),
        ..small.clone()
    };
    assert!(matches!(
        h.store.list(&a, &other, Some(&cursor)).await,
        Err(StoreError::InvalidCursor)
    ));
    // But it does continue the query it came from.
    assert!(h.store.list(&a, &small, Some(&cursor)).await.is_ok());
}

#[tokio::test]
async fn forged_and_garbled_cursors_are_refused() {
    let h = Harness::new().await;
    seed(&h, "partner-a", 3).await;
    let a = PartnerId::parse("partner-a").unwrap();
    let query = ListQuery {
        limit: PageSize::new(1).unwrap(),
        ..ListQuery::default()
    };
    let cursor = h.store.list(&a, &query, None).await.unwrap().next_cursor.unwrap();
    let (body, tag) = cursor.split_once('.').unwrap();
    let mut flipped = tag.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let forged = format!("{body}.{}", String::from_utf8(flipped).unwrap());
    for bad in [forged.as_str(), "not-a-cursor", "", "a.b.c", &format!("{body}.")] {
        assert!(
            matches!(
                h.store.list(&a, &query, Some(bad)).await,
                Err(StoreError::InvalidCursor)
            ),
            "{bad}"
        );
    }
    // A cursor sealed with another server key is refused too.
    let foreign =
        store::Store::new(h.client.clone(), h.tables.clone()).with_cursor_key(store::CursorKey::from_bytes([1; 32]));
    let foreign_cursor = foreign.list(&a, &query, None).await.unwrap().next_cursor.unwrap();
    assert!(matches!(
        h.store.list(&a, &query, Some(&foreign_cursor)).await,
        Err(StoreError::InvalidCursor)
    ));
}

#[tokio::test]
async fn the_sweep_index_holds_only_requests_awaiting_a_first_response() {
    let h = Harness::new().await;
    // English, technical: A due +2 h, B +4 h, C +8 h.
    let (due_2h, e1) = open("partner-a", CUSTOMER_A, "A", "azure", t0());
    let (due_4h, e2) = open("partner-b", CUSTOMER_A, "B", "azure", t0());
    let (due_8h, e3) = open("partner-a", CUSTOMER_B, "C", "azure", t0());
    let (answered, e4) = open("partner-c", CUSTOMER_A, "A", "azure", t0());
    for (r, e) in [(&due_2h, &e1), (&due_4h, &e2), (&due_8h, &e3), (&answered, &e4)] {
        h.store.create_request(r, e, None).await.unwrap();
    }
    let (responded, re) = answered
        .apply(
            Action::Respond {
                message: Message::parse("Hi").unwrap(),
            },
            &engineer(),
            Timestamp::from(t0() + minutes(30)),
            &policy(),
        )
        .unwrap();
    h.store.save_change(&responded, 1, &re).await.unwrap();

    let due_at = |m: i64| h.store.due_for_sweep(Timestamp::from(t0() + minutes(m)), 100);
    assert!(
        due_at(120).await.unwrap().is_empty(),
        "due exactly now is not yet past due"
    );
    let ids = |v: Vec<ServiceRequest>| v.into_iter().map(|r| r.id()).collect::<Vec<_>>();
    assert_eq!(ids(due_at(121).await.unwrap()), vec![due_2h.id()]);
    assert_eq!(ids(due_at(300).await.unwrap()), vec![due_2h.id(), due_4h.id()]);
    let all = due_at(10_000).await.unwrap();
    assert_eq!(
        ids(all.clone()),
        vec![due_2h.id(), due_4h.id(), due_8h.id()],
        "oldest due first; the answered one is absent"
    );
    assert_eq!(all[1].partner_id().as_str(), "partner-b");
    assert_eq!(
        ids(h
            .store
            .due_for_sweep(Timestamp::from(t0() + minutes(10_000)), 2)
            .await
            .unwrap()),
        vec![due_2h.id(), due_4h.id()]
    );

    // Once marked breached, a request leaves the index.
    let sweep = Actor::system("sla-sweep").unwrap();
    let (breached, be) = due_2h
        .mark_breached(Timestamp::from(t0() + minutes(121)), &sweep, &policy())
        .unwrap();
    h.store.save_change(&breached, 1, &be).await.unwrap();
    assert_eq!(ids(due_at(10_000).await.unwrap()), vec![due_4h.id(), due_8h.id()]);
}

#[tokio::test]
async fn support_engineers_find_any_partners_request_by_id() {
    let h = Harness::new().await;
    let created = seed(&h, "partner-a", 2).await;
    let found = h.store.find_request(created[1].id()).await.unwrap().unwrap();
    assert_eq!(found, created[1]);
    let unknown = RequestId::new(t0(), 424242);
    assert!(h.store.find_request(unknown).await.unwrap().is_none());
}

#[tokio::test]
async fn history_lists_one_requests_entries_oldest_first() {
    let h = Harness::new().await;
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    h.store.create_request(&request, &event, None).await.unwrap();
    // Another request of the same chain, with a title of its own.
    let (other, other_event) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(1));
    assert_ne!(other.title(), request.title());
    h.store.create_request(&other, &other_event, None).await.unwrap();
    let (r2, e2) = request
        .apply(
            Action::Respond {
                message: Message::parse("On it").unwrap(),
            },
            &engineer(),
            Timestamp::from(t0() + minutes(3)),
            &policy(),
        )
        .unwrap();
    h.store.save_change(&r2, 1, &e2).await.unwrap();
    let (r3, e3) = r2
        .apply(
            Action::Resolve {
                message: Message::parse("Done").unwrap(),
            },
            &engineer(),
            Timestamp::from(t0() + minutes(9)),
            &policy(),
        )
        .unwrap();
    h.store.save_change(&r3, 2, &e3).await.unwrap();
    let history = h.store.history(request.partner_id(), request.id()).await.unwrap();
    let kinds: Vec<String> = history
        .lines
        .iter()
        .map(|l| ledger::EntryRef::parse(l.as_bytes()).unwrap().kind.to_owned())
        .collect();
    assert_eq!(kinds, ["created", "first_response", "status_changed"]);
    // The values behind the entries' commitments come with them: the title, the subjects
    // and the messages (the other request's are not among them).
    let values: HashSet<&str> = history.values.values().map(String::as_str).collect();
    for expected in [
        request.title().as_str().unwrap(),
        "On it",
        "Done",
        "engineer-1",
        "agent-1",
    ] {
        assert!(values.contains(expected), "{expected} in {values:?}");
    }
    let other_title = other.title().as_str().unwrap();
    assert!(!values.contains(other_title), "{other_title} leaked into {values:?}");
}

#[tokio::test]
async fn checkpoints_are_written_only_for_chains_that_grew() {
    let h = Harness::new().await;
    let key = ledger::SignerKey::from_seed("ckpt", [4; 32]).unwrap();
    seed(&h, "partner-a", 3).await;
    seed(&h, "partner-b", 1).await;
    let now = Timestamp::from(t0());
    let first = h.store.sign_grown_chains(&key, &log(), now).await.unwrap();
    assert!(first.alarms.is_empty(), "{:?}", first.alarms);
    assert_eq!(
        first
            .signed
            .iter()
            .map(|c| (c.chain.as_str(), c.size))
            .collect::<Vec<_>>(),
        [("partner-a", 3), ("partner-b", 1)]
    );
    let before = h.store.round_trips();
    assert!(
        h.store
            .sign_grown_chains(&key, &log(), now)
            .await
            .unwrap()
            .signed
            .is_empty()
    );
    // Nothing grew: the signer only asked the needs-checkpoint index (one query per shard).
    assert_eq!(h.store.round_trips() - before, u64::from(store::SWEEP_SHARDS));
    seed(&h, "partner-b", 2).await;
    let second = h.store.sign_grown_chains(&key, &log(), now).await.unwrap();
    assert_eq!(
        second
            .signed
            .iter()
            .map(|c| (c.chain.as_str(), c.size))
            .collect::<Vec<_>>(),
        [("partner-b", 3)]
    );
    let stored = h
        .store
        .checkpoints(&ledger::ChainId::parse("partner-b").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.iter().map(|c| c.size).collect::<Vec<_>>(), [1, 3]);
    let notes: Vec<String> = stored.iter().map(|c| c.note.clone()).collect();
    let report = verify_export(&h.export("partner-b").await, &key, &notes).unwrap();
    assert_eq!(report.checkpoints_checked, 2);
}
