//! Every command of a SKU's waitlist, natively, against the in-memory store: what it answers,
//! what it writes, what it sends, and that a failure part-way keeps nothing.

mod support;

use serde_json::json;
use shared::outbox::Channel;
use shared::wire::{EntryStatus, Mode};
use support::*;
use waitlist::command::{ImportedEntry, Shipment};
use waitlist::store::{seed_id, Store};
use waitlist::{Answer, Command, Error};

fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}@example.com")).collect()
}

fn ids(emails: &[String]) -> Vec<String> {
    emails.iter().map(|e| format!("id-{e}")).collect()
}

#[test]
fn state_of_an_unknown_sku_is_not_found_and_of_a_set_up_one_counts_the_line() {
    let store = waitlist::memory::MemoryStore::new();
    let h = waitlist::handle(&store, &Default::default(), Command::State, T0);
    assert!(matches!(h.result, Err(Error::NotFound("unknown_sku", _))), "{:?}", h.result);

    let mut sim = Sim::restock();
    for e in emails(3) {
        sim.signup(&e);
    }
    let Ok(Answer::State(s)) = sim.run(Command::State) else { panic!() };
    assert_eq!((s.sku.as_str(), s.waiting, s.available, s.reserved), ("TEE-BLK-M", 3, 0, 0));
}

#[test]
fn signup_joins_once_answers_its_place_and_sends_one_confirmation() {
    let mut sim = Sim::restock();
    let all = emails(3);
    for (i, e) in all.iter().enumerate() {
        let r = sim.run(sim.signup_cmd(e)).unwrap();
        assert_eq!(r.status(), 201);
        let Answer::Joined { entry, .. } = r else { panic!() };
        assert_eq!(entry.position, Some(i as u32 + 1));
        assert_eq!(entry.status, EntryStatus::Waiting);
    }
    // The same address again (other case): already on the list, nothing new. The answer holds
    // the signup's fresh id, bound to the entry, never the entry's own id.
    let again = sim.run(sim.signup_cmd("S1@Example.com")).unwrap();
    assert_eq!(again.status(), 200);
    let Answer::Joined { entry, created: false } = again else { panic!() };
    assert_eq!((entry.entry_id.as_str(), entry.position), ("id-S1@Example.com", Some(2)));
    for id in ["id-S1@Example.com", "id-s1@example.com"] {
        let Ok(Answer::Position(p)) = sim.run(Command::Position { entry_id: id.into() }) else { panic!() };
        assert_eq!((p.entry_id.as_str(), p.position), (id, Some(2)), "read with {id}");
    }
    assert_eq!(sim.told("signup_confirmation"), ids(&all));
    // The answer is the public signup answer, field for field.
    let json = serde_json::to_value(sim.run(sim.signup_cmd("s0@example.com")).unwrap()).unwrap();
    assert_eq!(
        json,
        json!({"entry_id": "id-s0@example.com", "position": 1, "status": "waiting", "eta": null,
               "eta_text": json["eta_text"]})
    );
}

#[test]
fn signup_refuses_a_bad_address_and_keeps_the_consent_record() {
    let mut sim = Sim::restock();
    let bad = sim.run(sim.signup_cmd("not-an-address"));
    assert!(matches!(bad, Err(Error::Invalid(_))), "{bad:?}");
    let mut cmd = sim.signup_cmd("a@example.com");
    if let Command::Signup { consent, .. } = &mut cmd {
        *consent = Some(json!({"text": "Email me when it's back", "ip": "203.0.113.9"}));
    }
    sim.run(cmd).unwrap();
    assert_eq!(sim.store.consent("id-a@example.com").unwrap().unwrap()["ip"], "203.0.113.9");
}

#[test]
fn a_confirmation_held_back_is_noted_in_the_trail_and_not_sent() {
    let mut sim = Sim::restock();
    let mut cmd = sim.signup_cmd("a@example.com");
    if let Command::Signup { confirm, .. } = &mut cmd {
        *confirm = false;
    }
    sim.run(cmd).unwrap();
    assert!(sim.told("signup_confirmation").is_empty());
    let trail = sim.store.audit_of("id-a@example.com").unwrap();
    assert!(trail.iter().any(|a| a.event == "skipped" && a.detail.contains("within the last 15 minutes")), "{trail:?}");
}

#[test]
fn double_opt_in_keeps_the_place_but_not_in_line_until_confirmed() {
    let mut sim = Sim::new(Mode::Restock, json!({"double_opt_in": true}));
    let a = sim.signup("a@example.com");
    assert_eq!((a.status, a.position), (EntryStatus::PendingConfirmation, None));
    assert_eq!(sim.told("confirm_signup"), ["id-a@example.com"]);
    // Unconfirmed: offered nothing.
    sim.level(1);
    assert!(sim.told("restock_offer").is_empty());
    let Ok(Answer::Confirmed(c)) = sim.run(Command::Confirm { entry_id: a.entry_id.clone() }) else { panic!() };
    assert_eq!((c.status, c.position), (EntryStatus::Waiting, Some(1)));
    assert_eq!(sim.told("signup_confirmation"), ["id-a@example.com"]);
    let twice = sim.run(Command::Confirm { entry_id: a.entry_id });
    assert!(matches!(twice, Err(Error::Conflict("not_pending", _))), "{twice:?}");
}

#[test]
fn an_address_that_opted_out_joins_only_once_it_confirms() {
    // The shop has no double opt-in; the address unsubscribed earlier.
    let mut sim = Sim::restock();
    let mut cmd = sim.signup_cmd("a@example.com");
    if let Command::Signup { opted_out, .. } = &mut cmd {
        *opted_out = true;
    }
    let Ok(Answer::Joined { entry: a, .. }) = sim.run(cmd) else { panic!() };
    assert_eq!((a.status, a.position), (EntryStatus::PendingConfirmation, None));
    assert_eq!(sim.told("confirm_signup"), ["id-a@example.com"]);
    assert!(sim.told("signup_confirmation").is_empty());
    let b = sim.signup("b@example.com");
    assert_eq!(b.position, Some(1), "an unconfirmed signup holds no place yet");
    let Ok(Answer::Confirmed(c)) = sim.run(Command::Confirm { entry_id: a.entry_id }) else { panic!() };
    assert_eq!((c.position, c.email_key.as_str()), (Some(1), "a@example.com"), "the place counts from the signup");
}

#[test]
fn a_restock_offers_the_front_in_order_and_tells_the_rest() {
    let mut sim = Sim::restock();
    let all = emails(5);
    for e in &all {
        sim.signup(e);
    }
    let r = sim.level(2);
    assert_eq!((r.outcome.as_str(), r.available, r.offers, r.sold_out_again), ("applied", 2, 2, 3));
    assert_eq!(sim.told("restock_offer"), ids(&all[..2]));
    // The webhook's step writes the offers and the cursor; the alarm tells the rest.
    assert!(sim.told("sold_out_again").is_empty());
    sim.tick().unwrap();
    assert_eq!(sim.told("sold_out_again"), ids(&all[2..]));
    assert_eq!(sim.entry("id-s0@example.com").status, EntryStatus::Offered);
    // Offers are held: the widget says so.
    let Ok(Answer::State(s)) = sim.run(Command::State) else { panic!() };
    assert_eq!((s.reserved, s.waiting), (2, 5));
}

#[test]
fn a_restock_tells_the_rest_in_chunks_in_line_order_and_a_newer_restock_takes_over() {
    use waitlist::sku::FANOUT_CHUNK;
    let mut sim = Sim::restock();
    let n = FANOUT_CHUNK * 2 + 100;
    let Ok(Answer::Seeded(seeded)) = sim.run(Command::Seed { count: n }) else { panic!() };
    let seq = |i: u32| seed_id(seeded.first_seq + i);
    let r = sim.level(10);
    assert_eq!((r.offers, r.sold_out_again), (10, n - 10), "the answer counts what the fan-out will tell");
    assert!(sim.told("sold_out_again").is_empty());
    // Leaving the line during the fan-out: not told.
    let cancelled = seq(FANOUT_CHUNK + 50);
    sim.run(Command::Cancel { entry_id: cancelled.clone() }).unwrap();
    sim.tick().unwrap();
    let first_chunk: Vec<String> = (10..10 + FANOUT_CHUNK).map(seq).collect();
    assert_eq!(sim.told("sold_out_again"), first_chunk, "one chunk per run, in line order");
    // Joined after the first restock, before the second: the second covers them.
    sim.signup("between@example.com");
    // A second restock mid-fan-out: its units go to the front of the line (told the first is
    // sold out or not), and the rest hear of the newer restock, not the older one.
    let r = sim.level(15);
    assert_eq!((r.offers, r.sold_out_again), (5, n - 15), "less the one who left, plus the one who joined");
    sim.signup("after@example.com");
    for _ in 0..4 {
        sim.tick().unwrap();
    }
    let mut heard: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for row in sim.rows(Channel::Email).into_iter().filter(|r| r.kind != "signup_confirmation") {
        let occurrence = row.key.rsplit(':').next().unwrap_or_default().to_owned();
        heard.entry(row.entry_id).or_default().push(format!("{}:{occurrence}", row.kind));
    }
    let said = |id: &str| heard.get(id).cloned().unwrap_or_default();
    for i in 0..n {
        let expected: Vec<&str> = match i {
            0..10 => vec!["restock_offer:1"],
            10..15 => vec!["sold_out_again:1", "restock_offer:2"],
            _ if seq(i) == cancelled => vec![],
            _ if i < 10 + FANOUT_CHUNK => vec!["sold_out_again:1", "sold_out_again:2"],
            _ => vec!["sold_out_again:2"],
        };
        assert_eq!(said(&seq(i)), expected, "entry {i}");
    }
    assert_eq!(said("id-between@example.com"), ["sold_out_again:2"]);
    assert!(said("id-after@example.com").is_empty(), "a signup after the restock is not covered");
    assert_eq!(waitlist::Store::meta(&sim.store, "fanout").unwrap().as_deref(), Some("null"), "the fan-out ended");
}

#[test]
fn a_level_is_applied_once_and_never_from_a_stale_event() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    let cmd = sim.level_cmd("default", Some(1));
    let Ok(Answer::Inventory(first)) = sim.run(cmd.clone()) else { panic!() };
    assert_eq!(first.outcome, "applied");
    let Ok(Answer::Inventory(again)) = sim.run(cmd) else { panic!() };
    assert_eq!((again.outcome.as_str(), again.offers), ("duplicate", 0));
    // An older event for the same location changes nothing.
    let Command::Level { shop, .. } = sim.level_cmd("x", None) else { panic!() };
    let stale = Command::Level {
        shop,
        event_id: "old".into(),
        location: "default".into(),
        available: Some(50),
        updated_at_ms: T0 - 1,
    };
    let Ok(Answer::Inventory(s)) = sim.run(stale) else { panic!() };
    assert_eq!((s.outcome.as_str(), s.available), ("stale", 1));
    assert_eq!(sim.told("restock_offer").len(), 1);
}

#[test]
fn only_sellable_locations_count_and_oversold_ones_count_zero() {
    let mut sim = Sim::new(Mode::Restock, json!({"channels": {"online_store": ["web"]}}));
    sim.signup("a@example.com");
    let cmd = sim.level_cmd("store-front", Some(9));
    let Ok(Answer::Inventory(r)) = sim.run(cmd) else { panic!() };
    assert_eq!((r.available, r.offers), (0, 0));
    let cmd = sim.level_cmd("web", Some(-3));
    let Ok(Answer::Inventory(r)) = sim.run(cmd) else { panic!() };
    assert_eq!(r.available, 0);
    let cmd = sim.level_cmd("web", Some(1));
    let Ok(Answer::Inventory(r)) = sim.run(cmd) else { panic!() };
    assert_eq!((r.available, r.offers), (1, 1));
    let Ok(Answer::Queue(q)) = sim.run(Command::Queue { after: 0, limit: None, search: None }) else { panic!() };
    let levels: Vec<_> = q.levels.iter().map(|l| (l.location.as_str(), l.available, l.sellable)).collect();
    assert_eq!(levels, [("store-front", 9, false), ("web", 1, true)]);
}

#[test]
fn a_hold_that_runs_out_passes_its_units_to_the_next_in_line() {
    let mut sim = Sim::restock();
    let all = emails(2);
    for e in &all {
        sim.signup(e);
    }
    sim.level(1);
    sim.advance_hours(25);
    sim.tick().unwrap();
    assert_eq!(sim.told("hold_expired"), ids(&all[..1]));
    assert_eq!(sim.told("restock_offer"), ids(&all));
    assert_eq!(sim.entry("id-s0@example.com").status, EntryStatus::Expired);
    assert_eq!(sim.position("id-s1@example.com"), Some(1));
    // Once the messages are out, the next wake is the new hold's end or a timed message before it.
    for r in sim.store.outbox() {
        sim.store.mark_sent(&r.key, sim.now);
    }
    let wake = waitlist::next_wake(&sim.store, sim.now, None).unwrap().unwrap();
    let hold_end = sim.entry("id-s1@example.com").hold_until.unwrap();
    assert!(wake > sim.now && wake <= hold_end, "wake {wake}, now {}, hold end {hold_end}", sim.now);
    // Pacing holds a due message back until the provider allows more.
    let pending = sim.store.outbox().len();
    sim.signup("late@example.com");
    assert_eq!(sim.store.outbox().len(), pending + 1);
    let paced = waitlist::next_wake(&sim.store, sim.now, Some(sim.now + 500)).unwrap();
    assert_eq!(paced, Some(sim.now + 500));
}

#[test]
fn a_backorder_is_served_before_the_line_and_acknowledged() {
    let mut sim = Sim::new(Mode::Backorder, json!({}));
    sim.signup("a@example.com");
    let cmd = Command::Backorder {
        shop: sim.shop.clone(),
        entry_id: "b1".into(),
        order_id: "#1001".into(),
        email: "buyer@example.com".into(),
        quantity: 2,
        ordered_at_ms: T0 - 10,
    };
    let r = sim.run(cmd.clone()).unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(sim.position("b1"), Some(1));
    assert_eq!(sim.position("id-a@example.com"), Some(2));
    assert_eq!(sim.told("backorder_ack"), ["b1"]);
    // The same order again: the same entry.
    assert_eq!(sim.run(cmd).unwrap().status(), 200);
    sim.level(2);
    assert_eq!(sim.entry("b1").status, EntryStatus::Allocated);
    assert_eq!(sim.told("ship_notice"), ["b1"]);
    assert!(sim.told("restock_offer").is_empty(), "both units went to the paid order");
}

#[test]
fn a_conversion_leaves_the_line_once_and_records_the_revenue() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.signup("b@example.com");
    let convert = |event: Option<&str>| Command::Convert {
        event_id: event.map(str::to_owned),
        entry_id: None,
        email_key: Some("a@example.com".into()),
        order_id: "#1".into(),
        quantity: 1,
        revenue: 28.0,
    };
    let Ok(Answer::Conversion(c)) = sim.run(convert(Some("conv-1"))) else { panic!() };
    assert_eq!((c.entry_id.as_str(), c.status, c.revenue), ("id-a@example.com", EntryStatus::Converted, 28.0));
    assert_eq!(sim.position("id-b@example.com"), Some(1));
    let Ok(Answer::Outcome(o)) = sim.run(convert(Some("conv-1"))) else { panic!() };
    assert_eq!(o.outcome, "duplicate");
    let again = sim.run(convert(None));
    assert!(matches!(again, Err(Error::Conflict("not_convertible", _))), "{again:?}");
    let nobody = sim.run(Command::Convert {
        event_id: None,
        entry_id: Some("nobody".into()),
        email_key: None,
        order_id: "#2".into(),
        quantity: 1,
        revenue: 0.0,
    });
    assert!(matches!(nobody, Err(Error::NotFound("unknown_entry", _))), "{nobody:?}");
}

#[test]
fn cancel_engage_and_unsubscribe() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.signup("b@example.com");
    let Ok(Answer::Engaged(e)) = sim.run(Command::Engage { entry_id: "id-a@example.com".into() }) else { panic!() };
    assert!(e.engaged);
    assert!(sim.entry("id-a@example.com").engaged);
    let Ok(Answer::Cancelled(c)) = sim.run(Command::Cancel { entry_id: "id-a@example.com".into() }) else { panic!() };
    assert_eq!(c.status, EntryStatus::Cancelled);
    let twice = sim.run(Command::Cancel { entry_id: "id-a@example.com".into() });
    assert!(matches!(twice, Err(Error::Conflict("not_cancellable", _))), "{twice:?}");
    // Unsubscribe: out of line, pending messages skipped, the address answered for suppression.
    let Ok(Answer::Unsubscribed(u)) = sim.run(Command::Unsubscribe { entry_id: "id-b@example.com".into() }) else {
        panic!()
    };
    assert_eq!(u.email_key, "b@example.com");
    let b: Vec<_> = sim.store.messages_of("id-b@example.com").unwrap();
    assert!(b.iter().all(|m| m.status == "skipped"), "{b:?}");
    assert_eq!(sim.position("id-b@example.com"), None);
    let unknown = sim.run(Command::Unsubscribe { entry_id: "nobody".into() });
    assert!(matches!(unknown, Err(Error::NotFound("unknown_entry", _))));
}

#[test]
fn export_finds_an_address_or_a_phone_and_erase_removes_the_personal_data() {
    let mut sim = Sim::restock();
    let mut cmd = sim.signup_cmd("a@example.com");
    if let Command::Signup { phone, sms_consent, .. } = &mut cmd {
        *phone = Some("+15555550100".into());
        *sms_consent = true;
    }
    sim.run(cmd).unwrap();
    sim.signup("b@example.com");
    // A repeat signup's capability: erased with the entry.
    sim.run(sim.signup_cmd("A@example.com")).unwrap();
    assert!(sim.run(Command::Position { entry_id: "id-A@example.com".into() }).is_ok());
    let by_phone = Command::Export { email_key: None, phone: Some("+15555550100".into()) };
    let Ok(Answer::Export(found)) = sim.run(by_phone) else { panic!() };
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].email.as_str(), found[0].sku.as_str()), ("a@example.com", "TEE-BLK-M"));
    assert!(!found[0].messages.is_empty() && !found[0].audit.is_empty());
    let Ok(Answer::Erased(e)) = sim.run(Command::Erase { email_key: Some("a@example.com".into()), phone: None }) else {
        panic!()
    };
    assert_eq!(e.erased_entries, 1);
    let a = sim.entry("id-a@example.com");
    assert_eq!((a.email.as_str(), a.phone.as_deref(), a.status), ("erased", None, EntryStatus::Cancelled));
    assert!(sim.store.messages_of("id-a@example.com").unwrap().is_empty());
    assert!(sim.store.audit_of("id-a@example.com").unwrap().iter().all(|r| r.detail.ends_with("(erased)")));
    assert_eq!(sim.position("id-b@example.com"), Some(1));
    assert_eq!(sim.store.entry_alias("id-A@example.com").unwrap(), None, "its capabilities are gone");
}

#[test]
fn audit_tells_why_and_a_dry_run_writes_nothing() {
    let mut sim = Sim::restock();
    for e in emails(3) {
        sim.signup(&e);
    }
    let Ok(Answer::Audit(a)) = sim.run(Command::Audit { entry_id: "id-s1@example.com".into() }) else { panic!() };
    assert_eq!((a.entry.position, a.trail[0].event.as_str(), a.trail[0].cause.as_str()), (Some(2), "state", "signup"));
    let before = (sim.store.entries(), sim.store.outbox());
    let dry = Command::DryRun { shop: sim.shop.clone(), location: "default".into(), available: 1 };
    let Ok(Answer::DryRun(d)) = sim.run(dry) else { panic!() };
    assert_eq!((d.available_before, d.available_after, d.location_sellable), (0, 1, true));
    let kinds: Vec<_> = d.would_send.iter().filter(|w| w.channel == "email").map(|w| w.kind.as_str()).collect();
    assert_eq!(kinds, ["restock_offer", "sold_out_again", "sold_out_again"]);
    assert_eq!((sim.store.entries(), sim.store.outbox()), before, "a dry run writes nothing");
}

#[test]
fn a_claim_is_live_while_its_hold_runs() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.level(1);
    let claim = || Command::Claim { entry_id: "id-a@example.com".into() };
    let Ok(Answer::Claim(c)) = sim.run(claim()) else { panic!() };
    assert!(c.live && c.units == 1 && c.title == "Classic Tee");
    sim.advance_hours(25);
    let Ok(Answer::Claim(c)) = sim.run(claim()) else { panic!() };
    assert!(!c.live);
}

#[test]
fn an_eta_event_is_applied_once_never_stale_and_tells_the_line() {
    let mut sim = Sim::new(Mode::Preorder, json!({}));
    sim.signup("a@example.com");
    let eta = |earliest: &str| serde_json::from_value(json!({"earliest": earliest, "latest": earliest})).unwrap();
    let set = |id: &str, e: &str, at: i64, shop| Command::SetEta {
        shop,
        event_id: id.into(),
        eta: Some(eta(e)),
        updated_at_ms: at,
    };
    let Ok(Answer::Outcome(o)) = sim.run(set("e1", "2027-01-10", T0, sim.shop.clone())) else { panic!() };
    assert_eq!((o.outcome.as_str(), o.told), ("applied", Some(1)));
    assert_eq!(sim.told("eta_changed"), ["id-a@example.com"]);
    let Ok(Answer::Outcome(o)) = sim.run(set("e1", "2027-01-10", T0, sim.shop.clone())) else { panic!() };
    assert_eq!(o.outcome, "duplicate");
    let Ok(Answer::Outcome(o)) = sim.run(set("e0", "2027-02-01", T0 - 5, sim.shop.clone())) else { panic!() };
    assert_eq!(o.outcome, "stale");
    assert_eq!(serde_json::to_value(&o).unwrap()["eta"]["earliest"], "2027-01-10");
    let Ok(Answer::Outcome(o)) = sim.run(set("e2", "2027-01-10", T0 + 5, sim.shop.clone())) else { panic!() };
    assert_eq!(o.outcome, "unchanged");
    assert_eq!(sim.told("eta_changed").len(), 1);
}

#[test]
fn configure_keeps_synced_ids_and_an_eta_change_tells_everyone_in_line() {
    let mut sim = Sim::new(Mode::Preorder, json!({}));
    let listing = Command::Listing {
        shop: sim.shop.clone(),
        sku: "TEE-BLK-M".into(),
        title: "Classic Tee (new)".into(),
        url: None,
        variant_id: Some(42),
        inventory_item_id: Some(4242),
    };
    let Ok(Answer::Listing(l)) = sim.run(listing) else { panic!() };
    assert!(!l.created);
    assert_eq!(
        (l.config.shopify_variant_id, l.config.url.as_deref()),
        (Some(42), Some("https://acme.test/products/tee"))
    );
    sim.signup("a@example.com");
    let mut config = sku_config(Mode::Preorder);
    config.eta = serde_json::from_value(json!({"earliest": "2027-03-01", "latest": "2027-03-05"})).unwrap();
    let cmd = Command::Configure { shop: sim.shop.clone(), sku: "TEE-BLK-M".into(), config };
    let Ok(Answer::Config(c)) = sim.run(cmd) else { panic!() };
    assert_eq!(c.shopify_inventory_item_id, Some(4242), "the synced id stays");
    assert_eq!(sim.told("eta_changed"), ["id-a@example.com"]);
}

#[test]
fn a_listing_creates_a_waitlist_for_a_new_sku() {
    let store = waitlist::memory::MemoryStore::new();
    let sim = Sim::restock();
    let cmd = Command::Listing {
        shop: sim.shop.clone(),
        sku: "NEW-1".into(),
        title: "x".repeat(400),
        url: Some("https://acme.test/p".into()),
        variant_id: None,
        inventory_item_id: None,
    };
    let Ok(Answer::Listing(l)) = waitlist::handle(&store, &Default::default(), cmd, T0).result else { panic!() };
    assert!(l.created);
    assert_eq!((l.config.mode, l.config.title.chars().count()), (Mode::Restock, 300));
}

fn order(sim: &Sim, event: &str, order: &str, email: Option<&str>, quantity: u32, at: i64) -> Command {
    Command::Order {
        shop: sim.shop.clone(),
        event_id: event.into(),
        entry_id: format!("o-{order}"),
        order_id: order.into(),
        email: email.map(str::to_owned),
        phone: None,
        quantity,
        revenue: 28.0,
        ordered_at_ms: at,
    }
}

#[test]
fn an_order_converts_an_offer_becomes_a_backorder_when_oversold_or_is_ignored() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.level(1);
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w1", "#1", Some("A@example.com"), 1, T0)) else { panic!() };
    assert_eq!((o.outcome.as_str(), o.entry_id.as_deref()), ("converted", Some("id-a@example.com")));
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w1", "#1", Some("a@example.com"), 1, T0)) else { panic!() };
    assert_eq!(o.outcome, "duplicate");
    // In stock: a plain sale.
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w2", "#2", Some("c@example.com"), 1, T0 - 1_000_000)) else {
        panic!()
    };
    assert_eq!((o.outcome.as_str(), o.reason.as_deref()), ("ignored", Some("in_stock_sale")));
    // Sold past zero: a backorder, acknowledged.
    sim.level(0);
    let later = sim.now + 60_000;
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w3", "#3", Some("d@example.com"), 2, later)) else { panic!() };
    assert_eq!(o.outcome, "backorder");
    assert_eq!(o.entry.as_ref().map(|e| e.position), Some(Some(1)));
    assert_eq!(sim.told("backorder_ack"), ["o-#3"]);
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w4", "#4", None, 1, later)) else { panic!() };
    assert_eq!(o.reason.as_deref(), Some("no_email"));
}

#[test]
fn a_cancelled_order_frees_its_backorder_and_a_shipment_is_told_once() {
    let mut sim = Sim::new(Mode::Backorder, json!({}));
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w1", "#1", Some("a@example.com"), 1, T0)) else { panic!() };
    assert_eq!(o.outcome, "backorder");
    let Ok(Answer::Outcome(o)) = sim.run(order(&sim, "w2", "#2", Some("b@example.com"), 1, T0 + 1)) else { panic!() };
    assert_eq!(o.outcome, "backorder");
    let cancel = Command::OrderCancelled { shop: sim.shop.clone(), order_id: "#1".into() };
    let Ok(Answer::Outcome(o)) = sim.run(cancel.clone()) else { panic!() };
    assert_eq!((o.outcome.as_str(), o.entries.clone()), ("cancelled", Some(vec!["o-#1".to_owned()])));
    let Ok(Answer::Outcome(o)) = sim.run(cancel) else { panic!() };
    assert_eq!(o.outcome, "ignored");
    sim.level(1);
    let shipped = Command::Shipped {
        shop: sim.shop.clone(),
        order_id: "#2".into(),
        occurrence: 7,
        shipment: Shipment { carrier: Some("UPS".into()), number: Some("1Z".into()), url: None },
    };
    let Ok(Answer::Outcome(o)) = sim.run(shipped.clone()) else { panic!() };
    assert_eq!(o.outcome, "notified");
    let Ok(Answer::Outcome(o)) = sim.run(shipped) else { panic!() };
    assert_eq!(o.outcome, "ignored", "the same shipment twice is told once");
    // One when its unit was set aside, one for this shipment.
    let keys: Vec<_> =
        sim.rows(Channel::Email).into_iter().filter(|r| r.kind == "ship_notice").map(|r| r.key).collect();
    assert_eq!(keys, ["acme:o-#2:ship_notice:0", "acme:o-#2:ship_notice:7"]);
    assert_eq!(sim.entry("o-#2").status, EntryStatus::Converted);
}

#[test]
fn an_import_keeps_the_original_order_skips_duplicates_and_sends_nothing() {
    let mut sim = Sim::restock();
    sim.signup("already@example.com");
    let imported = |email: &str, at: i64| ImportedEntry {
        entry_id: format!("imp-{email}"),
        email: email.into(),
        phone: None,
        sms_consent: false,
        locale: None,
        quantity: 1,
        signed_up_at_ms: at,
    };
    let cmd = Command::Import {
        shop: sim.shop.clone(),
        entries: vec![
            imported("x@example.com", T0 - 3000),
            imported("bad", T0 - 2000),
            imported("already@example.com", T0 - 1000),
            imported("X@example.com", T0 - 500),
        ],
    };
    let sent_before = sim.store.outbox().len();
    let Ok(Answer::Import(r)) = sim.run(cmd) else { panic!() };
    assert_eq!(
        r.imported.iter().map(|i| (i.email.as_str(), i.position)).collect::<Vec<_>>(),
        [("x@example.com", Some(2))]
    );
    let reasons: Vec<_> = r.skipped.iter().map(|s| (s.email.as_str(), s.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [("bad", "invalid_email"), ("already@example.com", "already_on_list"), ("x@example.com", "already_on_list")]
    );
    assert_eq!(r.waiting, 2);
    assert_eq!(sim.store.outbox().len(), sent_before, "imported shoppers get no new email");
}

#[test]
fn outgoing_events_are_written_with_the_change_and_listed_as_deliveries() {
    let endpoint = json!({"event_endpoints": [{"id": "ep1", "url": "https://hooks.example/x", "secret": "whsec_c2VjcmV0LWtleS0xMjM0NTY3OA==", "events": []}]});
    let mut sim = Sim::new(Mode::Restock, endpoint);
    sim.signup("a@example.com");
    sim.level(1);
    let Ok(Answer::Deliveries(log)) = sim.run(Command::Deliveries) else { panic!() };
    let events: Vec<_> = log.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, ["offer.sent", "waitlist.joined"], "newest first");
    assert!(log.iter().all(|d| d.status == "pending" && d.next_at.is_some() && d.endpoint == "ep1"));
    assert_eq!(log[1].payload["data"]["position"], 1);
}

#[test]
fn seed_queue_mailbox_and_purge() {
    let mut sim = Sim::restock();
    let Ok(Answer::Seeded(s)) = sim.run(Command::Seed { count: 3 }) else { panic!() };
    assert_eq!((s.seeded, s.first_seq), (3, 1));
    sim.signup("a@example.com");
    let Ok(Answer::Seeded(more)) = sim.run(Command::Seed { count: 0 }) else { panic!() };
    assert_eq!(more.first_seq, 5, "after the three seeded and the signup");
    let Ok(Answer::Queue(q)) = sim.run(Command::Queue { after: 0, limit: None, search: None }) else { panic!() };
    let line: Vec<_> = q.entries.iter().map(|e| (e.seq, e.position)).collect();
    assert_eq!(line, [(1, Some(1)), (2, Some(2)), (3, Some(3)), (4, Some(4))]);
    assert_eq!(q.entries[3].messages.len(), 1);
    let Ok(Answer::Mailbox(m)) = sim.run(Command::Mailbox) else { panic!() };
    assert_eq!(m.len(), 1);
    let Ok(Answer::Purged(p)) = sim.run(Command::Purge) else { panic!() };
    assert!(p.purged);
    assert!(matches!(sim.run(Command::State), Err(Error::NotFound("unknown_sku", _))));
    assert!(sim.store.entries().is_empty() && sim.store.outbox().is_empty());
}

#[test]
fn a_template_that_fails_falls_back_to_the_default_and_says_so() {
    let mut sim = Sim::restock();
    let template: shared::template::Template =
        serde_json::from_value(json!({"subject": "{{ nope.missing.deeper }}", "text": "x"})).unwrap();
    sim.shop.templates.insert("signup_confirmation".into(), template);
    let cmd = sim.signup_cmd("a@example.com");
    let h = waitlist::handle(&sim.store, &sim.deployment, cmd, sim.now);
    assert!(h.result.is_ok());
    assert_eq!(sim.told("signup_confirmation"), ["id-a@example.com"]);
    let (sent, warnings) = sim.send(Channel::Email);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].subject.contains("Classic Tee"), "{}", sent[0].subject);
    assert!(warnings.iter().any(|w| w.contains("signup_confirmation")), "{warnings:?}");
}

#[test]
fn links_are_signed_and_point_at_the_edge() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.level(1);
    let (sent, _) = sim.send(Channel::Email);
    let offer = sent.into_iter().find(|r| r.kind == "restock_offer").unwrap();
    assert!(offer.text.contains("https://edge.test/v1/l/"), "{}", offer.text);
    assert!(offer.unsubscribe_url.as_deref().is_some_and(|u| u.starts_with("https://edge.test/v1/unsubscribe/")));
}

/// A message is queued as the facts of its change and rendered when it is first sent: the body
/// is written back before the call, so every retry sends the same body, even after the shop's
/// wording changed; the facts are those of the change (place, hold), not of the send.
#[test]
fn messages_are_rendered_when_sent_from_what_the_change_knew() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.signup("b@example.com");
    sim.level(1);
    sim.tick().unwrap();
    let queued = sim.rows(Channel::Email);
    assert!(queued.iter().all(|r| r.html.is_empty() && r.text.is_empty() && r.inputs.is_some()), "{queued:?}");
    let (first, _) = sim.send(Channel::Email);
    let b_sold_out = first.iter().find(|r| r.kind == "sold_out_again").expect("b told");
    // b's place when the restock told b: behind a, who holds the unit.
    assert!(b_sold_out.text.contains("(#2)"), "{}", b_sold_out.text);
    let a_offer = first.iter().find(|r| r.kind == "restock_offer").expect("a offered");
    assert!(a_offer.html.contains("<a href=\"https://edge.test/v1/l/"), "{}", a_offer.html);
    let stored = sim.rows(Channel::Email);
    assert!(stored.iter().all(|r| r.inputs.is_none() && !r.text.is_empty()));
    // The shop rewords the offer: a retry of the rendered row still sends what the first try did.
    let template: shared::template::Template =
        serde_json::from_value(json!({"subject": "Reworded", "text": "new words"})).unwrap();
    sim.shop.templates.insert("restock_offer".into(), template);
    sim.signup("c@example.com");
    let (again, _) = sim.send(Channel::Email);
    let c = again.iter().find(|r| r.entry_id == "id-c@example.com").expect("c's confirmation");
    assert!(!c.text.is_empty());
    let retried = again.iter().find(|r| r.kind == "restock_offer").unwrap();
    assert_eq!((&retried.subject, &retried.html, &retried.text), (&a_offer.subject, &a_offer.html, &a_offer.text));
}

/// Offers and hold ends are the urgent kinds; everything else is routine.
#[test]
fn offers_and_hold_ends_go_first() {
    use shared::outbox::priority;
    for kind in shared::wire::MessageKind::ALL {
        let urgent = matches!(kind.as_str(), "restock_offer" | "preorder_ready" | "hold_reminder" | "hold_expired");
        assert_eq!(priority(kind.as_str()) == 0, urgent, "{kind:?}");
    }
    assert_eq!(priority("offer.sent"), 1);
}

/// A command that fails at any store call keeps nothing, and run again it does exactly what it
/// would have done: nothing lost, nothing sent twice.
#[test]
fn a_failure_at_any_store_call_keeps_nothing_and_the_retry_is_whole() {
    let setup = || {
        let mut sim = Sim::restock();
        for e in emails(4) {
            sim.signup(&e);
        }
        sim
    };
    type Make = Box<dyn Fn(&mut Sim) -> Command>;
    let commands: Vec<Make> = vec![
        Box::new(|s: &mut Sim| s.signup_cmd("new@example.com")),
        Box::new(|s: &mut Sim| s.level_cmd("default", Some(2))),
        Box::new(|_: &mut Sim| Command::Cancel { entry_id: "id-s0@example.com".into() }),
        Box::new(|_: &mut Sim| Command::Erase { email_key: Some("s1@example.com".into()), phone: None }),
    ];
    for make in &commands {
        let mut clean = setup();
        let cmd = make(&mut clean);
        let calls_before = clean.store.calls();
        let expected = clean.run(cmd.clone()).expect("runs without failures");
        let calls = clean.store.calls() - calls_before;
        let want = (clean.store.entries(), clean.store.outbox());
        for n in 1..=calls {
            let mut sim = setup();
            let _ = make(&mut sim);
            let before = (sim.store.entries(), sim.store.outbox());
            sim.store.fail_after(n);
            let failed = sim.run(cmd.clone());
            assert!(matches!(failed, Err(Error::Store(_))), "{cmd:?} failing at call {n}: {failed:?}");
            assert_eq!((sim.store.entries(), sim.store.outbox()), before, "{cmd:?} failing at call {n} kept writes");
            sim.store.heal();
            assert_eq!(sim.run(cmd.clone()).unwrap(), expected, "{cmd:?} retried after call {n} failed");
            assert_eq!((sim.store.entries(), sim.store.outbox()), want);
        }
    }
}

#[test]
fn seeded_lines_and_signups_share_one_order_past_the_first_tree_capacity() {
    let mut sim = Sim::restock();
    sim.signup("first@example.com");
    let Ok(Answer::Seeded(_)) = sim.run(Command::Seed { count: 3000 }) else { panic!() };
    let late = sim.signup("late@example.com");
    assert_eq!(late.position, Some(3002));
    assert_eq!(sim.position(&seed_id(2)), Some(2));
    assert_eq!(sim.position(&seed_id(3001)), Some(3001));
    // Leaving the line moves everyone behind up by one.
    sim.run(Command::Cancel { entry_id: seed_id(1500) }).unwrap();
    assert_eq!(sim.position(&seed_id(1499)), Some(1499));
    assert_eq!(sim.position(&seed_id(1501)), Some(1500));
    assert_eq!(sim.position("id-late@example.com"), Some(3001));
    let Ok(Answer::State(s)) = sim.run(Command::State) else { panic!() };
    assert_eq!(s.waiting, 3001);
}

/// Store calls per shopper command at 10 and at 20 000 waiting: the same, give or take the
/// tree's depth (one node per bit of the signup order).
#[test]
fn a_shoppers_command_costs_the_same_at_any_depth() {
    let cost = |depth: u32| {
        let mut sim = Sim::restock();
        sim.run(Command::Seed { count: depth }).unwrap();
        let measure = |sim: &mut Sim, cmd: Command| {
            let before = sim.store.calls();
            sim.run(cmd).unwrap();
            sim.store.calls() - before
        };
        let cmd = sim.signup_cmd("new@example.com");
        let signup = measure(&mut sim, cmd);
        let position = measure(&mut sim, Command::Position { entry_id: "id-new@example.com".into() });
        let state = measure(&mut sim, Command::State);
        let cancel = measure(&mut sim, Command::Cancel { entry_id: "id-new@example.com".into() });
        [signup, position, state, cancel]
    };
    let (shallow, deep) = (cost(10), cost(20_000));
    assert_eq!(shallow, deep, "store calls for signup, position, state, cancel");
}

/// An object written before the index existed gets it on first touch.
#[test]
fn an_object_without_the_index_gets_it_on_first_touch() {
    let mut sim = Sim::restock();
    for e in emails(3) {
        sim.signup(&e);
    }
    sim.level(1);
    // As the code before the index left it: no counters, no tree, no wakes.
    for key in ["index_version", "line:in_line", "line:backorders", "line:offered_units", "line:capacity", "wake_basis"]
    {
        sim.store.set_meta(key, "0").unwrap();
    }
    sim.store.tree_clear().unwrap();
    sim.store.wakes_clear().unwrap();
    assert_eq!(sim.position("id-s2@example.com"), Some(3));
    let Ok(Answer::State(s)) = sim.run(Command::State) else { panic!() };
    assert_eq!((s.waiting, s.reserved), (3, 1));
    let hold_end = sim.entry("id-s0@example.com").hold_until;
    assert!(sim.store.first_wake().unwrap() <= hold_end && sim.store.first_wake().unwrap().is_some());
}

#[test]
fn the_admin_queue_comes_a_page_at_a_time_and_finds_an_address_or_an_order() {
    let mut sim = Sim::new(Mode::Backorder, json!({}));
    sim.run(Command::Seed { count: 1200 }).unwrap();
    sim.signup("late@example.com");
    let page = |sim: &mut Sim, after: u32, limit: Option<u32>, search: Option<&str>| {
        let cmd = Command::Queue { after, limit, search: search.map(str::to_owned) };
        match sim.run(cmd) {
            Ok(Answer::Queue(q)) => q,
            other => panic!("{other:?}"),
        }
    };
    let first = page(&mut sim, 0, None, None);
    assert_eq!((first.entries.len(), first.next_after), (500, Some(500)));
    let second = page(&mut sim, 500, None, None);
    assert_eq!((second.entries[0].seq, second.entries[0].position, second.next_after), (501, Some(501), Some(1000)));
    let last = page(&mut sim, 1000, None, None);
    assert_eq!((last.entries.len(), last.next_after), (201, None));
    assert_eq!(last.entries[200].email, "late@example.com");
    assert_eq!(page(&mut sim, 0, Some(10_000), None).entries.len(), 500, "at most 500 a page");
    let found = page(&mut sim, 0, None, Some("Late@Example.com"));
    assert_eq!(
        found.entries.iter().map(|e| (e.email.as_str(), e.position)).collect::<Vec<_>>(),
        [("late@example.com", Some(1201))]
    );
    assert_eq!(found.entries[0].messages.len(), 1);
    let Ok(Answer::Outcome(_)) = sim.run(Command::Order {
        shop: sim.shop.clone(),
        event_id: "w".into(),
        entry_id: "b".into(),
        order_id: "#77".into(),
        email: Some("buyer@example.com".into()),
        phone: None,
        quantity: 1,
        revenue: 1.0,
        ordered_at_ms: T0,
    }) else {
        panic!()
    };
    let by_order = page(&mut sim, 0, None, Some("#77"));
    assert_eq!(
        by_order.entries.iter().map(|e| (e.entry_id.as_str(), e.position)).collect::<Vec<_>>(),
        [("b", Some(1))]
    );
    assert!(page(&mut sim, 0, None, Some("nobody@example.com")).entries.is_empty());
}

#[test]
fn a_repeat_signup_gets_a_fresh_capability_and_an_entry_keeps_its_newest() {
    let mut sim = Sim::restock();
    sim.signup("rep@example.com");
    let n = waitlist::store::MAX_ALIASES + 5;
    for i in 0..n {
        let mut cmd = sim.signup_cmd("rep@example.com");
        if let Command::Signup { entry_id, .. } = &mut cmd {
            *entry_id = format!("fresh-{i:02}");
        }
        sim.now += 1;
        let Ok(Answer::Joined { entry, created: false }) = sim.run(cmd) else { panic!() };
        assert_eq!(entry.entry_id, format!("fresh-{i:02}"));
    }
    let reads = |sim: &mut Sim, id: &str| sim.run(Command::Position { entry_id: id.into() }).is_ok();
    assert!(!reads(&mut sim, "fresh-00"), "the oldest capabilities stop reading the entry");
    assert!(!reads(&mut sim, "fresh-04"));
    assert!(reads(&mut sim, "fresh-05"));
    assert!(reads(&mut sim, &format!("fresh-{:02}", n - 1)));
    assert!(reads(&mut sim, "id-rep@example.com"), "the signup's own id still reads it");
    assert_eq!(sim.store.entries().len(), 1, "still one entry");
}

#[test]
fn failed_scheduled_work_is_recorded_backs_off_and_clears_on_success() {
    use shared::wire::AlarmFailure;
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    let queue = |sim: &mut Sim| {
        let cmd = Command::Queue { after: 0, limit: Some(10), search: None };
        let Ok(Answer::Queue(v)) = sim.run(cmd) else { panic!() };
        v.alarm_failure
    };
    assert_eq!(queue(&mut sim), None);
    let t = sim.now;
    let backoffs: Vec<i64> = (0..4)
        .map(|i| waitlist::alarm_failed(&sim.store, "suppression list unavailable", t + i).unwrap() - (t + i))
        .collect();
    assert_eq!(backoffs, [1_000, 2_000, 4_000, 8_000]);
    let f = queue(&mut sim).expect("recorded");
    assert_eq!(
        (f.failures, f.error.as_str(), f.at, f.retry_at),
        (4, "suppression list unavailable", t + 3, t + 3 + 8_000)
    );
    assert_eq!(AlarmFailure::backoff_ms(30), 300_000, "at most five minutes");
    waitlist::alarm_succeeded(&sim.store).unwrap();
    assert_eq!(queue(&mut sim), None);
    assert_eq!(waitlist::alarm_failed(&sim.store, "again", t).unwrap(), t + 1_000, "counting starts over");
}

/// Three in line, a restock of one: the first holds the unit.
fn first_of_three_offered() -> Sim {
    let mut sim = Sim::restock();
    for e in emails(3) {
        sim.signup(&e);
    }
    sim.level(1);
    assert_eq!(sim.told("restock_offer"), ["id-s0@example.com"]);
    sim
}

#[test]
fn an_address_found_suppressed_leaves_the_line_and_its_units_go_on() {
    let mut sim = first_of_three_offered();
    // At send time the offer's address turned out to be on the shop's suppression list.
    let cmd = Command::OptedOut { entry_ids: vec!["id-s0@example.com".into(), "no-such-entry".into()] };
    let Ok(Answer::Outcome(o)) = sim.run(cmd) else { panic!() };
    assert_eq!(o.outcome, "applied");
    assert_eq!(sim.entry("id-s0@example.com").status, EntryStatus::Cancelled);
    assert_eq!(sim.told("restock_offer"), ["id-s0@example.com", "id-s1@example.com"], "the unit went on at once");
    assert_eq!((sim.position("id-s1@example.com"), sim.position("id-s2@example.com")), (Some(1), Some(2)));
    // Again: nothing left to do.
    let again = Command::OptedOut { entry_ids: vec!["id-s0@example.com".into()] };
    let Ok(Answer::Outcome(o)) = sim.run(again) else { panic!() };
    assert_eq!(o.outcome, "unchanged");
}

/// A dead-lettered offer (refused for good, or failing for the whole retry horizon) frees its
/// units for the next in line at once; an entry that holds no offer is left as it is.
#[test]
fn an_undeliverable_offer_frees_its_units_for_the_next_in_line() {
    let mut sim = first_of_three_offered();
    let cmd = Command::Undeliverable { entry_ids: vec!["id-s0@example.com".into(), "id-s2@example.com".into()] };
    let Ok(Answer::Outcome(o)) = sim.run(cmd) else { panic!() };
    assert_eq!((o.outcome.as_str(), o.reason.as_deref()), ("applied", Some("1 left the line")));
    assert_eq!(sim.entry("id-s0@example.com").status, EntryStatus::Cancelled);
    assert_eq!(sim.entry("id-s2@example.com").status, EntryStatus::Waiting, "s2 held nothing: it stays");
    assert_eq!(sim.told("restock_offer"), ["id-s0@example.com", "id-s1@example.com"], "the unit went on at once");
    let trail = match sim.run(Command::Audit { entry_id: "id-s0@example.com".into() }).unwrap() {
        Answer::Audit(v) => v.trail,
        other => panic!("{other:?}"),
    };
    assert!(trail.iter().any(|t| t.cause.contains("could not be delivered")), "{trail:?}");
}

/// An offer first sent a while after its allocation (pacing held it back) holds its units as
/// long after the send as it would have after the allocation; the entry, its trail and the
/// message agree. Sent within a minute, the hold stays as allocated.
#[test]
fn a_late_offer_counts_its_hold_from_the_send() {
    let mut sim = Sim::restock();
    sim.signup("a@example.com");
    sim.signup("b@example.com");
    sim.level(2);
    let a = "id-a@example.com";
    let b = "id-b@example.com";
    let allocated = sim.entry(a).hold_until.expect("a holds a unit");
    assert_eq!(sim.entry(b).hold_until, Some(allocated));
    // b's offer goes out at once, a's is sent 10 minutes late.
    let pending: Vec<_> = sim.rows(Channel::Email).into_iter().filter(|r| r.status == "pending").collect();
    let (b_rows, a_rows): (Vec<_>, Vec<_>) = pending.into_iter().partition(|r| r.entry_id == b);
    sim.advance(30_000);
    let (sent_b, _) = waitlist::render_rows(&sim.store, &sim.deployment, b_rows, sim.now).unwrap();
    assert_eq!(sim.entry(b).hold_until, Some(allocated), "30 s late: the hold stays");
    sim.advance(10 * 60_000 - 30_000);
    let (sent_a, _) = waitlist::render_rows(&sim.store, &sim.deployment, a_rows, sim.now).unwrap();
    let moved = allocated + 10 * 60_000;
    assert_eq!(sim.entry(a).hold_until, Some(moved), "10 min late: the hold counts from the send");
    let said = |rows: &[waitlist::store::OutboxRow]| {
        rows.iter().find(|r| r.kind == "restock_offer").map(|r| r.text.clone()).expect("an offer")
    };
    let until = |ms| shared::message::format_instant(ms);
    assert!(said(&sent_a).contains(&until(moved)), "{}", said(&sent_a));
    assert!(said(&sent_b).contains(&until(allocated)), "{}", said(&sent_b));
    let trail = match sim.run(waitlist::Command::Audit { entry_id: a.into() }).unwrap() {
        waitlist::Answer::Audit(v) => v.trail,
        other => panic!("{other:?}"),
    };
    assert!(trail.iter().any(|t| t.detail.contains("counted from the send")), "{trail:?}");
    // The hold ends, and the units go on, at the new time, not the allocated one.
    sim.advance(allocated - sim.now + 1_000);
    sim.tick().unwrap();
    assert_eq!(sim.entry(a).status, shared::wire::EntryStatus::Offered);
    assert_eq!(sim.entry(b).status, shared::wire::EntryStatus::Expired);
}
