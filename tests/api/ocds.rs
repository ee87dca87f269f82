//! Open data in OCDS 1.1: real listings driven through the API (one in disclosure, an auction
//! whose deal is announced, a negotiated deal that closed, a listing without bidders), every
//! package and release validated against the official OCDS 1.1.5 schemas and the bids
//! extension (tests/data/ocds), and no bidder identity anywhere in the output.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Resp, TestApp, next_id, spawn_app_with};
use crate::listings::{Cast, approved, approved_with, cast, draft, in_secs};

const BASE_URL: &str = "https://exchange.example";
const RELEASE_SCHEMA: &str =
    "https://standard.open-contracting.org/schema/1__1__5/release-schema.json";
const RELEASE_PACKAGE_SCHEMA: &str =
    "https://standard.open-contracting.org/schema/1__1__5/release-package-schema.json";
const RECORD_PACKAGE_SCHEMA: &str =
    "https://standard.open-contracting.org/schema/1__1__5/record-package-schema.json";
const VERSIONED_RELEASE_SCHEMA: &str =
    "https://standard.open-contracting.org/schema/1__1__5/versioned-release-validation-schema.json";

// ---------------------------------------------------------------------------------------
// Schemas

fn schema_file(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ocds")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Applies an OCDS extension's schema patch (JSON Merge Patch, RFC 7386).
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let target = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The OCDS schemas compiled with one release schema (core, or core with the bids extension).
pub struct Ocds {
    schemas: boon::Schemas,
    release: boon::SchemaIndex,
    release_package: boon::SchemaIndex,
    record_package: boon::SchemaIndex,
}

impl Ocds {
    fn compile(release_schema: Value) -> Self {
        let mut c = boon::Compiler::new();
        c.set_default_draft(boon::Draft::V4);
        c.add_resource(RELEASE_SCHEMA, release_schema).unwrap();
        c.add_resource(
            RELEASE_PACKAGE_SCHEMA,
            schema_file("release-package-schema.json"),
        )
        .unwrap();
        c.add_resource(
            RECORD_PACKAGE_SCHEMA,
            schema_file("record-package-schema.json"),
        )
        .unwrap();
        // Only for the optional versionedRelease, which is never published (asserted below).
        c.add_resource(VERSIONED_RELEASE_SCHEMA, json!({})).unwrap();
        let mut schemas = boon::Schemas::new();
        let release = c.compile(RELEASE_SCHEMA, &mut schemas).unwrap();
        let release_package = c.compile(RELEASE_PACKAGE_SCHEMA, &mut schemas).unwrap();
        let record_package = c.compile(RECORD_PACKAGE_SCHEMA, &mut schemas).unwrap();
        Self {
            schemas,
            release,
            release_package,
            record_package,
        }
    }

    /// The official release schema, and the same with the bids extension applied.
    pub fn both() -> [Self; 2] {
        let core = schema_file("release-schema.json");
        let mut with_bids = core.clone();
        merge_patch(
            &mut with_bids,
            &schema_file("bids-extension-release-schema.json"),
        );
        assert!(with_bids["definitions"]["Bid"].is_object());
        [Self::compile(core), Self::compile(with_bids)]
    }

    fn check(&self, what: &str, v: &Value, index: boon::SchemaIndex) {
        if let Err(e) = self.schemas.validate(v, index) {
            panic!("{what} is not valid OCDS 1.1: {e:#}\n{v:#}");
        }
    }
}

/// Validates a package and every release in it (and in its records) with both schema sets.
pub fn validate(ocds: &[Ocds; 2], package: &Value) {
    for o in ocds {
        if package.get("records").is_some() {
            o.check("record package", package, o.record_package);
            for record in package["records"].as_array().unwrap() {
                assert!(record.get("versionedRelease").is_none());
                for r in record["releases"].as_array().unwrap() {
                    o.check(&format!("release {}", r["id"]), r, o.release);
                }
                o.check("compiled release", &record["compiledRelease"], o.release);
            }
        } else {
            o.check("release package", package, o.release_package);
            for r in package["releases"].as_array().unwrap() {
                o.check(&format!("release {}", r["id"]), r, o.release);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Driving listings (the shared helpers give every bidder the same name and organisation as
// the seller, so these bidders get their own identities to look for in the output).

/// Someone whose identity must never appear in open data.
struct Bidder {
    token: String,
    secrets: Vec<String>,
}

async fn bidder(app: &TestApp, name: &str, org: &str, phone: &str) -> Bidder {
    let email = format!("ocds-bidder{}@bidders.example", next_id());
    let r = app
        .register(json!({
            "email": email, "role": "bidder", "name": name,
            "organization_name": org, "phone": phone,
        }))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let mut token = None;
    for _ in 0..100 {
        token = app
            .mailer_stub()
            .into_iter()
            .find(|m| m.to == email && m.text.contains("token="))
            .map(|m| {
                let start = m.text.find("token=").unwrap() + 6;
                m.text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect::<String>()
            });
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = app
        .post(
            "/api/v1/auth/verify-email",
            None,
            &json!({"token": token.expect("verification mail")}),
        )
        .await;
    assert_eq!(r.status, 204);
    let login = app.login(&email, PASSWORD).await.json();
    Bidder {
        token: login["access_token"].as_str().unwrap().to_string(),
        secrets: vec![email, name.to_string(), org.to_string(), phone.to_string()],
    }
}

/// Registers `b` on listing `id`, qualifies it and confirms its deposit.
async fn make_eligible(app: &TestApp, c: &Cast, id: i64, b: &Bidder) {
    let reg = app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&b.token),
            &json!({"statement": "意向受让"}),
        )
        .await
        .json();
    let rid = reg["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/registrations/{rid}/review"),
            Some(&c.operator),
            &json!({"decision": "qualify"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = app
        .post(
            &format!("/api/v1/registrations/{rid}/deposit"),
            Some(&c.operator),
            &json!({"action": "confirm", "reference": "DEP-1"}),
        )
        .await;
    assert_eq!(r.json()["deposit_status"], "paid");
}

async fn listing_status(app: &TestApp, id: i64) -> String {
    app.get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json()["status"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

async fn wait_for(app: &TestApp, id: i64, want: &str) {
    for _ in 0..100 {
        if listing_status(app, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("listing {id} never became {want}");
}

async fn place_bid(app: &TestApp, id: i64, b: &Bidder, amount: &str) {
    let r = app
        .raw(
            "POST",
            &format!("/api/v1/listings/{id}/bids"),
            &[
                ("authorization", &format!("Bearer {}", b.token)),
                ("content-type", "application/json"),
                ("idempotency-key", &format!("ocds-{}", next_id())),
            ],
            serde_json::to_vec(&json!({"amount": amount})).unwrap(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

/// Operator steps of a deal: contract (signed at the award), payment, announcement.
async fn sign_pay_announce(app: &TestApp, c: &Cast, id: i64) {
    let path = format!("/api/v1/listings/{id}/deal");
    let deal = app.get(&path, Some(&c.operator)).await.json();
    let steps = [
        ("contract", json!({"signed_at": deal["awarded_at"]})),
        ("payment", json!({"reference": "JY-PAY-OCDS"})),
        ("announce", json!({})),
    ];
    for (step, body) in steps {
        let r = app
            .post(&format!("{path}/{step}"), Some(&c.operator), &body)
            .await;
        assert_eq!(
            r.status,
            200,
            "{step}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

fn release_of<'a>(package: &'a Value, project_no: &str) -> &'a Value {
    package["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tender"]["id"] == project_no)
        .unwrap_or_else(|| panic!("no release of {project_no}"))
}

async fn project_no(app: &TestApp, id: i64, token: &str) -> String {
    app.get(&format!("/api/v1/listings/{id}"), Some(token))
        .await
        .json()["project_no"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn ocds_app() -> TestApp {
    spawn_app_with(|s| s.server.public_base_url = BASE_URL.to_string()).await
}

async fn get_ok(app: &TestApp, path: &str) -> (Value, String) {
    let r: Resp = app.get(path, None).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    (r.json(), String::from_utf8(r.body).unwrap())
}

// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn every_release_validates_against_ocds_1_1_and_no_bidder_identity_leaks() {
    let ocds = Ocds::both();
    let app = ocds_app().await;
    let c = cast(&app).await;
    let a = bidder(&app, "张竞买", "甲方投资发展有限公司", "+86 139 1111 2222").await;
    let b = bidder(&app, "李竞买", "乙方资本管理有限公司", "+86 137 3333 4444").await;
    let n = bidder(&app, "王协议", "丙方实业集团有限公司", "+86 136 5555 6666").await;

    // Auction, negotiation and no sale: disclosures that end once the clock moves on.
    let auction = approved_with(
        &app,
        &c,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 1}),
        &in_secs(600),
    )
    .await;
    make_eligible(&app, &c, auction, &a).await;
    make_eligible(&app, &c, auction, &b).await;
    let negotiated = approved(&app, &c, &in_secs(600)).await;
    make_eligible(&app, &c, negotiated, &n).await;
    let no_sale = approved(&app, &c, &in_secs(600)).await;
    app.clock.advance(chrono::Duration::seconds(601));
    wait_for(&app, no_sale, "no_sale").await;
    wait_for(&app, negotiated, "negotiation").await;

    // The auction: two bidders, then the deal is announced.
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{auction}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_for(&app, auction, "bidding").await;
    place_bid(&app, auction, &a, "10000000").await;
    place_bid(&app, auction, &b, "10050000").await;
    wait_for(&app, auction, "awarded").await;
    sign_pay_announce(&app, &c, auction).await;

    // The negotiated deal goes all the way to closed.
    let r = app
        .post(
            &format!("/api/v1/listings/{negotiated}/quote"),
            Some(&n.token),
            &json!({"amount": "10200000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    sign_pay_announce(&app, &c, negotiated).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{negotiated}/deal/close"),
            Some(&c.operator),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // One more in disclosure, and one the public may not see.
    let open = approved(&app, &c, &in_secs(601 + 86_400)).await;
    let hidden = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();

    // The release package: the four public listings, each valid.
    let (package, body) = get_ok(&app, "/api/v1/ocds/releases?per_page=100").await;
    validate(&ocds, &package);
    assert_eq!(package["version"], "1.1");
    assert_eq!(package["publisher"]["name"], "国有资产交易平台");
    assert_eq!(
        package["extensions"],
        json!([app.settings.ocds.bids_extension_url])
    );
    assert_eq!(
        package["uri"],
        format!("{BASE_URL}/api/v1/ocds/releases?page=1&per_page=100")
    );
    assert!(package.get("links").is_none());
    assert_eq!(package["releases"].as_array().unwrap().len(), 4);
    let hidden_no = project_no(&app, hidden, &c.owner).await;
    assert!(!body.contains(&hidden_no));
    let mut bodies = vec![body];

    let projects = [
        (open, "disclosure"),
        (auction, "announced"),
        (negotiated, "closed"),
        (no_sale, "no_sale"),
    ];
    for (id, status) in projects {
        let no = project_no(&app, id, &c.owner).await;
        let release = release_of(&package, &no);
        assert_eq!(release["ocid"], format!("ocds-axchg1-{no}"));
        assert_eq!(release["tender"]["statusDetails"], status);
        let (record, body) = get_ok(&app, &format!("/api/v1/ocds/records/{no}")).await;
        validate(&ocds, &record);
        let rec = &record["records"][0];
        assert_eq!(rec["ocid"], release["ocid"]);
        // The newest release of the record is the one the release package carries.
        assert_eq!(rec["releases"].as_array().unwrap().last().unwrap(), release);
        assert_eq!(rec["compiledRelease"]["tag"], json!(["compiled"]));
        bodies.push(body);
    }

    let open_release = release_of(&package, &project_no(&app, open, &c.owner).await);
    assert_eq!(open_release["tag"], json!(["tender"]));
    assert_eq!(open_release["tender"]["status"], "active");
    assert_eq!(
        open_release["tender"]["value"],
        json!({"amount": 10_000_000.0, "currency": "CNY"})
    );

    let unsold = release_of(&package, &project_no(&app, no_sale, &c.owner).await);
    assert_eq!(unsold["tender"]["status"], "unsuccessful");
    assert_eq!(unsold["tender"]["numberOfTenderers"], 0);

    let sold = release_of(&package, &project_no(&app, auction, &c.owner).await);
    assert_eq!(sold["tag"], json!(["award", "contract"]));
    assert_eq!(sold["tender"]["status"], "complete");
    assert_eq!(sold["tender"]["numberOfTenderers"], 2);
    assert_eq!(sold["bids"]["statistics"][0]["value"], 2);
    let details = sold["bids"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    let winner_code = details[1]["tenderers"][0]["name"].as_str().unwrap();
    assert!(winner_code.starts_with('B'), "{winner_code}");
    assert_eq!(details[1]["value"]["amount"], json!(10_050_000.0));
    assert_eq!(sold["awards"][0]["suppliers"][0]["name"], winner_code);
    assert_eq!(sold["awards"][0]["value"]["amount"], json!(10_050_000.0));
    assert_eq!(sold["contracts"][0]["status"], "active");
    assert!(sold["contracts"][0]["dateSigned"].is_string());

    let closed = release_of(&package, &project_no(&app, negotiated, &c.owner).await);
    assert_eq!(closed["tag"], json!(["contractTermination"]));
    assert_eq!(closed["tender"]["numberOfTenderers"], 1);
    assert_eq!(closed["contracts"][0]["status"], "terminated");
    assert_eq!(closed["awards"][0]["value"]["amount"], json!(10_200_000.0));

    // Nothing that identifies a bidder, anywhere.
    for body in &bodies {
        for secret in a.secrets.iter().chain(&b.secrets).chain(&n.secrets) {
            assert!(!body.contains(secret.as_str()), "{secret} leaked");
        }
        for needle in [
            "@bidders.example",
            "127.0.0.1",
            "JY-PAY-OCDS",
            "DEP-1",
            "意向受让",
        ] {
            assert!(!body.contains(needle), "{needle} leaked");
        }
    }
}

#[actix_web::test]
async fn releases_are_paged_and_filtered_by_since() {
    let ocds = Ocds::both();
    let app = ocds_app().await;
    let c = cast(&app).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(approved(&app, &c, &in_secs(86_400)).await);
    }
    let mut numbers = Vec::new();
    for id in &ids {
        numbers.push(project_no(&app, *id, &c.owner).await);
    }

    let (first, _) = get_ok(&app, "/api/v1/ocds/releases?per_page=2").await;
    validate(&ocds, &first);
    let next = first["links"]["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{BASE_URL}/api/v1/ocds/releases?page=2&per_page=2")
    );
    let (second, _) = get_ok(&app, next.strip_prefix(BASE_URL).unwrap()).await;
    validate(&ocds, &second);
    assert!(second.get("links").is_none());
    let order: Vec<&Value> = first["releases"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["releases"].as_array().unwrap())
        .map(|r| &r["tender"]["id"])
        .collect();
    assert_eq!(order, numbers.iter().collect::<Vec<_>>());

    // `since` is inclusive: from the last listing's change on, only that listing.
    let last = second["releases"][0]["date"].as_str().unwrap().to_string();
    let (since, _) = get_ok(
        &app,
        &format!("/api/v1/ocds/releases?since={last}&per_page=2"),
    )
    .await;
    validate(&ocds, &since);
    assert_eq!(since["releases"].as_array().unwrap().len(), 1);
    assert_eq!(since["releases"][0]["tender"]["id"], numbers[2].as_str());
    assert!(
        since["uri"]
            .as_str()
            .unwrap()
            .contains(&format!("since={last}"))
    );
    let (future, _) = get_ok(&app, "/api/v1/ocds/releases?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future["releases"], json!([]));

    for bad in [
        "?per_page=101",
        "?per_page=0",
        "?page=0",
        "?since=yesterday",
        "?sinse=2026-01-01T00:00:00Z",
    ] {
        app.get(&format!("/api/v1/ocds/releases{bad}"), None)
            .await
            .assert_problem(400, "invalid_query");
    }
}

#[actix_web::test]
async fn records_of_projects_the_public_may_not_see_are_not_found() {
    let app = ocds_app().await;
    let c = cast(&app).await;
    let drafted = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let submitted = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let returned = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let terminated = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    for id in [submitted, returned, terminated] {
        let r = app
            .post(
                &format!("/api/v1/listings/{id}/submit"),
                Some(&c.owner),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = app
        .post(
            &format!("/api/v1/listings/{returned}/review"),
            Some(&c.operator),
            &json!({"decision": "return", "comment": "补充材料"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = app
        .post(
            &format!("/api/v1/listings/{terminated}/terminate"),
            Some(&c.operator),
            &json!({"reason": "转让方撤回"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Terminated before it was ever disclosed: not public in the listing API either.
    app.get(&format!("/api/v1/listings/{terminated}"), None)
        .await
        .assert_problem(404, "not_found");

    let (package, body) = get_ok(&app, "/api/v1/ocds/releases").await;
    assert_eq!(package["releases"], json!([]));
    for id in [drafted, submitted, returned, terminated] {
        let no = project_no(&app, id, &c.owner).await;
        assert!(!body.contains(&no));
        app.get(&format!("/api/v1/ocds/records/{no}"), None)
            .await
            .assert_problem(404, "not_found");
    }
    app.get("/api/v1/ocds/records/AX-CQ-2099-99999", None)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_schemas_refuse_what_ocds_refuses() {
    // The validation above proves something only if the validator rejects bad releases.
    let [core, with_bids] = Ocds::both();
    let good = json!({
        "ocid": "ocds-axchg1-AX-CQ-2026-00001", "id": "r1-disclosure-1", "date": "2026-03-02T01:00:00Z",
        "tag": ["tender"], "initiationType": "tender",
        "tender": {"id": "AX-CQ-2026-00001", "value": {"amount": 1.5, "currency": "CNY"}},
        "bids": {"statistics": [{"id": "r1-bids", "measure": "bids", "value": 2}]},
    });
    for o in [&core, &with_bids] {
        assert!(o.schemas.validate(&good, o.release).is_ok());
    }
    let broken = |path: &[&str], value: Value| {
        let mut v = good.clone();
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut v;
        for p in parents {
            at = &mut at[*p];
        }
        at[*last] = value;
        v
    };
    for bad in [
        broken(&["tag"], json!(["sold"])),
        broken(&["date"], json!("yesterday")),
        broken(&["initiationType"], json!("auction")),
        broken(&["tender", "status"], json!("open")),
        broken(&["tender", "value", "amount"], json!("1.50")),
        broken(&["tender", "value", "currency"], json!("RMB")),
    ] {
        assert!(core.schemas.validate(&bad, core.release).is_err(), "{bad}");
    }
    // Only the extension knows what a bid statistic is.
    let bad = broken(
        &["bids", "statistics"],
        json!([{"id": "r1-bids", "measure": "bids"}]),
    );
    assert!(core.schemas.validate(&bad, core.release).is_ok());
    assert!(with_bids.schemas.validate(&bad, with_bids.release).is_err());
}
