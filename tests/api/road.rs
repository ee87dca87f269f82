//! The road of a listing across the real working-day calendar of 2026 (the Spring Festival with
//! its 调休 Saturdays, the National Day 调休 Sunday), driven by the exchange's sandbox clock:
//! qualification after disclosure and a deposit paid on its last day, the enterprise's opinion
//! (an objection, and silence), an extension and a material notice moving `disclosure_end`,
//! instalments paid on time and late, and an overpayment refused.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app, spawn_app_with};
use crate::integrity::mail_kinds;
use crate::listings::{Cast, approved_with, cast};

/// Beijing wall-clock time `YYYY-MM-DDTHH:MM` as an instant.
pub(crate) fn bj(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}:00+08:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// An instant in a JSON answer.
pub(crate) fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not an instant: {v}"))
        .parse()
        .unwrap()
}

pub(crate) fn ok(r: &Resp) -> Value {
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// An exchange whose clock starts at a Beijing time in 2026, with an enterprise, an operator,
/// an auditor and an admin (who moves the sandbox clock).
pub(crate) struct Road {
    pub(crate) app: TestApp,
    pub(crate) c: Cast,
    pub(crate) admin: String,
}

impl Road {
    pub(crate) async fn at(app: TestApp, start: &str) -> Road {
        // The tests' base clock may go back (the sandbox clock on top of it only goes forward):
        // put the exchange in 2026 before anything exists.
        app.clock.advance(bj(start) - app.now());
        let (_, admin, _) = app.staff_account("admin").await;
        let c = cast(&app).await;
        Road { app, c, admin }
    }

    /// Moves the exchange's clock forward to Beijing time `to` through the sandbox clock, and
    /// signs the cast in again.
    pub(crate) async fn to(&mut self, to: &str) {
        let by = bj(to) - self.app.now();
        assert!(by > chrono::Duration::zero(), "{to} is in the past");
        let now = self.app.advance(&self.admin, by).await;
        assert!((now - bj(to)).num_seconds().abs() < 5, "{now} is not {to}");
        self.c.renew(&self.app).await;
    }

    /// A listing (appraised at the end of 2025) in disclosure until `end` (Beijing time).
    pub(crate) async fn listing(&self, overrides: Value, end: &str) -> i64 {
        let mut body = json!({"appraisal_date": "2025-12-31"});
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let end = bj(end).to_rfc3339();
        approved_with(&self.app, &self.c, body, &end).await
    }

    pub(crate) async fn get(&self, id: i64) -> Value {
        ok(&self.app.get(&format!("/api/v1/listings/{id}"), None).await)
    }

    /// A verified bidder registered on the listing: (e-mail, registration id).
    pub(crate) async fn registrant(&self, id: i64) -> (String, i64) {
        let (email, token) = self.app.verified_bidder().await;
        let path = format!("/api/v1/listings/{id}/registrations");
        let reg = ok(&self.app.post(&path, Some(&token), &json!({})).await);
        (email, reg["id"].as_i64().unwrap())
    }

    pub(crate) async fn review(&self, rid: i64, decision: &str) -> Resp {
        let path = format!("/api/v1/registrations/{rid}/review");
        let body = json!({"decision": decision, "comment": "营业执照与受让条件不符"});
        self.app.post(&path, Some(&self.c.operator), &body).await
    }

    pub(crate) async fn pay_deposit(&self, rid: i64) -> Resp {
        let path = format!("/api/v1/registrations/{rid}/deposit");
        let body = json!({"action": "confirm", "reference": format!("BZJ-{rid}")});
        self.app.post(&path, Some(&self.c.operator), &body).await
    }

    /// Registration `rid` of listing `id`, as the operator sees it.
    pub(crate) async fn registration(&self, id: i64, rid: i64) -> Value {
        let path = format!("/api/v1/listings/{id}/registrations");
        let all = ok(&self.app.get(&path, Some(&self.c.operator)).await);
        let found = all.as_array().unwrap().iter().find(|r| r["id"] == rid);
        found
            .cloned()
            .unwrap_or_else(|| panic!("no registration {rid} in {all}"))
    }

    pub(crate) async fn opinion(&self, rid: i64, agree: bool) -> Resp {
        let path = format!("/api/v1/registrations/{rid}/seller-opinion");
        let body = json!({"agree": agree, "comment": "该意向受让方不符合股东会决议的受让条件"});
        self.app.post(&path, Some(&self.c.owner), &body).await
    }

    /// Waits for the scheduler to move the listing to `want`.
    pub(crate) async fn wait_status(&self, id: i64, want: &str) -> Value {
        let mut l = Value::Null;
        for _ in 0..100 {
            l = self.get(id).await;
            if l["status"] == want {
                return l;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("listing {id} is not {want}: {l}");
    }

    /// Waits until `email`'s notifications include `kind`.
    pub(crate) async fn wait_mail(&self, email: &str, kind: &str) {
        let token = self.app.token(email).await;
        for _ in 0..100 {
            if mail_kinds(&self.app, &token)
                .await
                .iter()
                .any(|k| k == kind)
            {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("{email} got no {kind}");
    }
}

#[actix_web::test]
async fn a_late_registrant_qualified_after_disclosure_and_paying_on_its_last_day_counts() {
    let mut r = Road::at(spawn_app().await, "2026-02-11T10:00").await;
    // Disclosure ends on Friday 13 February, the last working day before the Spring Festival
    // but one: Saturday the 14th is a 调休 working day, 15-23 February are holidays.
    let id = r.listing(json!({}), "2026-02-13T17:00").await;
    r.to("2026-02-13T16:00").await;
    let (late, late_reg) = r.registrant(id).await;
    let (unpaid, unpaid_reg) = r.registrant(id).await;
    let (_, unreviewed_reg) = r.registrant(id).await;

    r.to("2026-02-14T09:30").await;
    let l = r.get(id).await;
    assert_eq!(l["status"], "disclosure", "{l}");
    // The exchange has 5 working days after disclosure: 14 Feb (调休), 24, 25, 26, 27 Feb.
    assert_eq!(instant(&l["decision_due"]), bj("2026-02-27T17:00"), "{l}");
    let (_, stranger) = r.app.verified_bidder().await;
    r.app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&stranger),
            &json!({}),
        )
        .await
        .assert_problem(409, "registration_closed");

    r.to("2026-02-26T11:00").await;
    for rid in [late_reg, unpaid_reg] {
        let q = ok(&r.review(rid, "qualify").await);
        assert_eq!(q["status"], "qualified", "{q}");
        // 3 working days for the deposit: 27 Feb, 28 Feb (a 调休 Saturday), 2 March.
        assert_eq!(instant(&q["deposit_due_at"]), bj("2026-03-02T17:00"), "{q}");
        // 5 for the enterprise's opinion: 27 Feb, 28 Feb, 2, 3, 4 March.
        assert_eq!(
            instant(&q["seller_opinion_due_at"]),
            bj("2026-03-04T17:00"),
            "{q}"
        );
    }
    // The decision now waits for the deposits of the two qualified bidders.
    let l = r.get(id).await;
    assert_eq!(instant(&l["decision_due"]), bj("2026-03-02T17:00"), "{l}");

    // The registration nobody reviewed is out of time once the exchange's window has closed.
    r.to("2026-02-27T17:01").await;
    r.review(unreviewed_reg, "qualify")
        .await
        .assert_problem(409, "qualification_closed");

    // On the deposit's last day: both bidders were reminded; one pays an hour before the close.
    r.to("2026-03-02T16:00").await;
    r.wait_mail(&unpaid, "deadline_reminder").await;
    r.wait_mail(&late, "deadline_reminder").await;
    let paid = ok(&r.pay_deposit(late_reg).await);
    assert_eq!(paid["deposit_status"], "paid", "{paid}");
    assert_eq!(r.get(id).await["status"], "disclosure");

    // After 17:00 the unpaid bidder no longer counts: one eligible bidder, so negotiation.
    r.to("2026-03-02T17:01").await;
    let l = r.wait_status(id, "negotiation").await;
    assert!(l["decision_due"].is_null(), "{l}");
    let gone = r.registration(id, unpaid_reg).await;
    assert_eq!(gone["eligible"], false, "{gone}");
    // The unpaid bidder is told its deadline has passed (the paid one is not).
    passed_mail(&r, &unpaid, "交纳交易保证金", "2026-03-02 17:00").await;
    assert!(
        !r.app
            .mailer_stub()
            .iter()
            .any(|m| m.to == late && m.subject.starts_with("期限已过")),
        "the bidder that paid was told its deadline passed"
    );
    assert_eq!(r.registration(id, late_reg).await["eligible"], true);
    assert_ne!(r.pay_deposit(unpaid_reg).await.status, 200);
}

#[actix_web::test]
async fn the_enterprise_objects_to_one_bidder_and_its_silence_agrees_to_another() {
    // National Day 2026: Sunday 20 September is a 调休 working day, 25-27 September and
    // 1-7 October are holidays.
    let mut r = Road::at(spawn_app().await, "2026-09-16T10:00").await;
    let id = r.listing(json!({}), "2026-09-24T17:00").await;
    let (_, objected) = r.registrant(id).await;
    let (_, silent) = r.registrant(id).await;
    for rid in [objected, silent] {
        let q = ok(&r.review(rid, "qualify").await);
        // 17, 18, 20 (Sunday, 调休) September.
        assert_eq!(instant(&q["deposit_due_at"]), bj("2026-09-20T17:00"), "{q}");
        // 17, 18, 20, 21, 22 September.
        assert_eq!(
            instant(&q["seller_opinion_due_at"]),
            bj("2026-09-22T17:00"),
            "{q}"
        );
    }
    r.wait_mail(&r.c.emails[0], "seller_opinion_requested")
        .await;
    assert_eq!(ok(&r.pay_deposit(objected).await)["deposit_status"], "paid");

    // The enterprise objects (with its reason): the registration goes back to the operator,
    // who must decide again within 5 working days, and is told so.
    r.to("2026-09-17T09:00").await;
    let body = json!({"agree": false, "comment": " "});
    let path = format!("/api/v1/registrations/{objected}/seller-opinion");
    r.app
        .post(&path, Some(&r.c.owner), &body)
        .await
        .assert_problem(422, "validation_failed");
    let o = ok(&r.opinion(objected, false).await);
    assert_eq!(o["seller_opinion"], "objected", "{o}");
    assert_eq!(o["status"], "pending", "{o}");
    // 18, 20 (调休), 21, 22, 23 September.
    assert_eq!(instant(&o["review_due_at"]), bj("2026-09-23T17:00"), "{o}");
    r.opinion(objected, true)
        .await
        .assert_problem(409, "opinion_given");
    r.wait_mail(&r.c.emails[1], "seller_objected").await;
    let rejected = ok(&r.review(objected, "reject").await);
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(rejected["deposit_status"], "refunded", "{rejected}");

    // The silent one pays on its last day, a Sunday that is a working day.
    r.to("2026-09-20T16:30").await;
    assert_eq!(ok(&r.pay_deposit(silent).await)["deposit_status"], "paid");
    // Silence: once the opinion's time has passed, the enterprise can no longer object, and
    // the bidder counts.
    r.to("2026-09-22T17:01").await;
    r.opinion(silent, false)
        .await
        .assert_problem(409, "opinion_too_late");
    let s = r.registration(id, silent).await;
    assert!(s["seller_opinion"].is_null(), "{s}");
    assert_eq!(s["eligible"], true, "{s}");
    let l = r.get(id).await;
    assert_eq!(instant(&l["decision_due"]), bj("2026-09-24T17:00"), "{l}");
    r.to("2026-09-24T17:01").await;
    r.wait_status(id, "negotiation").await;
}

#[actix_web::test]
async fn an_extension_and_a_material_notice_move_the_disclosure_end_and_reach_the_bidders() {
    let app = spawn_app_with(|s| s.listing.min_disclosure_equity_transfer = 5).await;
    let mut r = Road::at(app, "2026-02-09T10:00").await;
    let id = r.listing(json!({}), "2026-02-24T17:00").await;
    let (bidder, _) = r.registrant(id).await;
    let extend = format!("/api/v1/listings/{id}/extend");
    let notices = format!("/api/v1/listings/{id}/notices");

    let (c, app) = (&r.c, &r.app);
    app.post(&extend, Some(&c.owner), &json!({"working_days": 4}))
        .await
        .assert_problem(422, "extension_too_short");
    app.post(&extend, Some(&c.operator), &json!({"working_days": 5}))
        .await
        .assert_problem(403, "forbidden");
    // 25, 26, 27, 28 February (a 调休 Saturday), 2 March.
    let l = ok(&app
        .post(&extend, Some(&c.owner), &json!({"working_days": 5}))
        .await);
    assert_eq!(instant(&l["disclosure_end"]), bj("2026-03-02T17:00"), "{l}");
    r.wait_mail(&bidder, "listing_notice").await;

    // A notice that changes nothing material leaves the end alone.
    let text = "补充说明：标的企业的职工安置方案已经职工代表大会审议通过。";
    let n = ok(&r
        .app
        .post(
            &notices,
            Some(&r.c.owner),
            &json!({"text": text, "material": false}),
        )
        .await);
    assert_eq!(instant(&n["disclosure_end"]), bj("2026-03-02T17:00"), "{n}");
    r.app
        .post(
            &notices,
            Some(&r.c.owner),
            &json!({"text": " ", "material": true}),
        )
        .await
        .assert_problem(422, "validation_failed");

    // A material change on Friday 27 February restarts the 5-day minimum from then:
    // 28 February, 2, 3, 4, 5 March.
    r.to("2026-02-27T10:00").await;
    let text = "重大变更：转让底价所依据的评估报告已更新，受让条件第三条相应调整。";
    let n = ok(&r
        .app
        .post(
            &notices,
            Some(&r.c.owner),
            &json!({"text": text, "material": true}),
        )
        .await);
    assert_eq!(instant(&n["disclosure_end_before"]), bj("2026-03-02T17:00"));
    assert_eq!(instant(&n["disclosure_end"]), bj("2026-03-05T17:00"), "{n}");
    let l = r.get(id).await;
    assert_eq!(instant(&l["disclosure_end"]), bj("2026-03-05T17:00"), "{l}");

    // The public sees every notice in order, the audit trail has them, and on 3 March the
    // listing is still in disclosure (it would have ended on the 2nd). After the 5th, the
    // exchange still has 5 working days to review the registration: 6, 9, 10, 11, 12 March.
    let public = ok(&r.app.get(&notices, None).await);
    let kinds: Vec<_> = public
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            json!("extension"),
            json!("supplementary"),
            json!("supplementary")
        ]
    );
    assert_eq!(r.app.audit_count(Some("listing.extended")).await, 1);
    r.to("2026-03-03T09:00").await;
    assert_eq!(r.get(id).await["disclosure_ended"], false);
    r.to("2026-03-05T17:01").await;
    let l = r.get(id).await;
    assert_eq!(
        (l["status"].as_str(), l["disclosure_ended"].as_bool()),
        (Some("disclosure"), Some(true)),
        "{l}"
    );
    assert_eq!(instant(&l["decision_due"]), bj("2026-03-12T17:00"), "{l}");
    r.to("2026-03-12T17:01").await;
    r.wait_status(id, "no_sale").await;
}

/// A negotiated deal at the listing price, awarded to a new bidder; returns the listing id.
pub(crate) async fn negotiated(r: &mut Road, end: &str, after: &str) -> i64 {
    let id = r.listing(json!({}), end).await;
    let bidder = crate::listings::eligible_bidders(&r.app, &r.c, id, 1)
        .await
        .remove(0);
    r.to(after).await;
    r.wait_status(id, "negotiation").await;
    let quote = format!("/api/v1/listings/{id}/quote");
    ok(&r
        .app
        .post(&quote, Some(&bidder), &json!({"amount": "10000000.00"}))
        .await);
    id
}

pub(crate) async fn deal_step(r: &Road, id: i64, what: &str, body: Value) -> Resp {
    let path = format!("/api/v1/listings/{id}/deal/{what}");
    r.app.post(&path, Some(&r.c.operator), &body).await
}

#[actix_web::test]
async fn instalments_paid_on_time_close_the_price_and_a_late_first_instalment_raises_an_alert() {
    let mut r = Road::at(spawn_app().await, "2026-02-09T09:00").await;
    let on_time = negotiated(&mut r, "2026-02-09T09:05", "2026-02-09T09:06").await;
    let late = negotiated(&mut r, "2026-02-09T09:10", "2026-02-09T09:11").await;

    r.to("2026-02-10T10:00").await;
    let signed =
        json!({"signed_at": bj("2026-02-10T09:30").to_rfc3339(), "payment": "instalments"});
    deal_step(&r, on_time, "contract", signed.clone())
        .await
        .assert_problem(422, "guarantee_required");
    let mut with_guarantee = signed.clone();
    with_guarantee["guarantee_reference"] = json!("BH-2026-0210-01");
    for id in [on_time, late] {
        let d = ok(&deal_step(&r, id, "contract", with_guarantee.clone()).await);
        assert_eq!(d["payment_plan"], "instalments", "{d}");
        // 5 working days: 11, 12, 13, 14 (调休) and 24 February, after the Spring Festival.
        assert_eq!(
            instant(&d["first_payment_due"]),
            bj("2026-02-24T17:00"),
            "{d}"
        );
        assert_eq!(d["first_payment_min"], "3000000.00", "{d}");
        // The winner's deposit (1,000,000.00) is the first part of the price paid.
        assert_eq!(
            (d["paid_total"].as_str(), d["outstanding"].as_str()),
            (Some("1000000.00"), Some("9000000.00")),
            "{d}"
        );
        assert_eq!(instant(&d["payment_due"]), bj("2026-02-24T17:00"), "{d}");
        // The rest is due a year after the contract (calendar months, no working days).
        let warnings = d.get("warnings").cloned().unwrap_or(json!([]));
        assert_eq!(warnings, json!([]), "{d}");
    }

    // On its last day, 24 February, in two parts: until 30 % is in, the next due is still the
    // 24th; then it is the final one.
    r.to("2026-02-24T16:00").await;
    let n = std::cell::Cell::new(0);
    let pay = |amount: &str| {
        n.set(n.get() + 1);
        json!({"amount": amount, "reference": format!("ZJ-2026-{}", n.get())})
    };
    let d = ok(&deal_step(&r, on_time, "payment", pay("1000000.00")).await);
    assert_eq!(instant(&d["payment_due"]), bj("2026-02-24T17:00"), "{d}");
    let d = ok(&deal_step(&r, on_time, "payment", pay("1000000.00")).await);
    assert_eq!(
        (d["paid_total"].as_str(), d["outstanding"].as_str()),
        (Some("3000000.00"), Some("7000000.00")),
        "{d}"
    );
    assert!(
        d["payment_due"].as_str().unwrap().starts_with("2027-02-"),
        "{d}"
    );
    // The final instalment's due date (a year on, in calendar months) falls into 2027, which
    // has no calendar file: the deal's `warnings` say so from then on.
    let warnings = d["warnings"].to_string();
    assert!(
        warnings.contains("no published holiday calendar for 2027"),
        "{d}"
    );
    assert_eq!(d["status"], "contract_signed", "{d}");

    // The late one raises `payment_overdue` once the 24th has closed; the punctual one does not.
    r.to("2026-02-24T17:01").await;
    let alerts = wait_alert(&r, late, "payment_overdue").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        listing_alerts(&r, on_time)
            .await
            .iter()
            .all(|a| a["rule"] != "payment_overdue")
    );

    // Nothing beyond the price: an overpayment is refused and changes nothing.
    r.to("2026-03-10T10:00").await;
    deal_step(&r, on_time, "payment", pay("7000000.01"))
        .await
        .assert_problem(422, "overpayment");
    let d = ok(&deal_step(&r, on_time, "payment", pay("7000000.00")).await);
    assert_eq!(
        (d["outstanding"].as_str(), d["status"].as_str()),
        (Some("0.00"), Some("paid")),
        "{d}"
    );
    assert_eq!(d["payments"].as_array().unwrap().len(), 4, "{d}");
    assert_eq!(r.get(on_time).await["status"], "paid");
    deal_step(&r, on_time, "payment", pay("0.01"))
        .await
        .assert_problem(409, "invalid_state");

    // Announced, the contract in the open data carries the plan and the payments (never the
    // bank references or the guarantee), valid OCDS.
    ok(&deal_step(&r, on_time, "announce", json!({})).await);
    let no = r.get(on_time).await["project_no"]
        .as_str()
        .unwrap()
        .to_string();
    let record = ok(&r.app.get(&format!("/api/v1/ocds/records/{no}"), None).await);
    crate::ocds::validate(&crate::ocds::Ocds::both(), &record);
    let contract = &record["records"][0]["compiledRelease"]["contracts"][0];
    let milestones: Vec<_> = contract["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["code"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
                m["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        milestones,
        [
            ("firstInstalment", "met", "financing"),
            ("finalInstalment", "met", "financing")
        ],
        "{contract}"
    );
    assert_eq!(
        instant(&contract["milestones"][0]["dueDate"]),
        bj("2026-02-24T17:00")
    );
    let met = instant(&contract["milestones"][0]["dateMet"]);
    assert!(
        bj("2026-02-24T15:59") <= met && met < bj("2026-02-24T17:00"),
        "{contract}"
    );
    let paid: Vec<_> = contract["implementation"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["value"]["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(
        paid,
        [1_000_000.0, 1_000_000.0, 1_000_000.0, 7_000_000.0],
        "{contract}"
    );
    let text = record.to_string();
    assert!(
        !text.contains("ZJ-") && !text.contains("BH-2026"),
        "a reference was published"
    );
}

/// Waits for the "deadline passed" reminder about `what` (its Chinese wording) to reach
/// `email`, naming the deadline `due` (Beijing time).
pub(crate) async fn passed_mail(r: &Road, email: &str, what: &str, due: &str) {
    for _ in 0..100 {
        let found = r.app.mailer_stub().into_iter().any(|m| {
            m.to == email
                && m.subject.starts_with("期限已过")
                && m.subject.contains(what)
                && m.text.contains(&format!("已于 {due}（北京时间）届满"))
        });
        if found {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let got: Vec<_> = r
        .app
        .mailer_stub()
        .into_iter()
        .filter(|m| m.to == email)
        .map(|m| m.subject)
        .collect();
    panic!("{email} was not told its {what} deadline passed: {got:?}");
}

pub(crate) async fn listing_alerts(r: &Road, id: i64) -> Vec<Value> {
    let path = format!("/api/v1/audit/alerts?listing_id={id}&per_page=100");
    ok(&r.app.get(&path, Some(&r.c.auditor)).await)["items"]
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) async fn wait_alert(r: &Road, id: i64, rule: &str) -> Vec<Value> {
    for _ in 0..100 {
        let all = listing_alerts(r, id).await;
        let of_rule: Vec<_> = all.into_iter().filter(|a| a["rule"] == rule).collect();
        if !of_rule.is_empty() {
            return of_rule;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("no {rule} alert on listing {id}");
}
