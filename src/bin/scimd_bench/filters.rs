//! The query scenarios of issue 4: the `eq` lookups IdPs make before every
//! create, a prefix search, an incremental-sync window paged by index,
//! `sortBy` at the start and deep in the set, and a cursor walk through every
//! user. Each request's answer is checked (exactly one match for an `eq` on
//! a unique value, the prefix honoured, the order honoured), so a server that
//! ignores a parameter shows errors instead of fast numbers.

use crate::client::{encode, Call, Target};
use crate::loader::synthetic_user;
use crate::measure::{self, expect_json, pick, Outcome, Plan, Row, Step};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Page size of the index-paged scenarios.
const PAGE: u64 = 100;
/// Page size of the cursor walk.
const CURSOR_PAGE: u64 = 1000;

fn total_results(v: &Value) -> Option<u64> {
    v.get("totalResults").and_then(Value::as_u64)
}

fn resources(v: &Value) -> &[Value] {
    v.get("Resources")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A unique-value lookup must find exactly the expected user.
fn one_match(v: &Value, want_id: &str) -> Result<(), String> {
    match total_results(v) {
        Some(1) => {}
        other => return Err(format!("200 but totalResults={other:?}, expected 1")),
    }
    let got = resources(v).first().map(|r| str_at(r, "id")).unwrap_or("");
    if got == want_id {
        Ok(())
    } else {
        Err(format!("200 but found '{got}', expected user '{want_id}'"))
    }
}

/// The page the server must return for `sortBy=userName`: the loader's
/// userNames are all lower-case ASCII, so case-insensitive order is byte
/// order, and the expected page can be computed here exactly.
fn sorted_page(users: u64, start_index: u64, count: u64) -> Vec<String> {
    let mut names: Vec<String> = (0..users).map(|i| synthetic_user(i).user_name).collect();
    names.sort_unstable();
    names
        .into_iter()
        .skip(start_index.saturating_sub(1) as usize)
        .take(count as usize)
        .collect()
}

fn is_expected_page(v: &Value, expected: &[String]) -> Result<(), String> {
    let names: Vec<String> = resources(v)
        .iter()
        .map(|r| str_at(r, "userName").to_lowercase())
        .collect();
    if names.len() != expected.len() {
        return Err(format!(
            "200 but {} resources, expected {}",
            names.len(),
            expected.len()
        ));
    }
    match names
        .iter()
        .zip(expected)
        .position(|(got, want)| got != want)
    {
        None => Ok(()),
        Some(i) => Err(format!(
            "200 but position {i} is '{}', expected '{}' (sortBy ignored?)",
            names[i], expected[i]
        )),
    }
}

fn filter_path(filter: &str, extra: &str) -> String {
    format!("/Users?filter={}{extra}", encode(filter))
}

pub struct Results {
    pub rows: Vec<Row>,
    pub user_name_eq: Outcome,
    pub external_id_eq: Outcome,
    pub email_eq: Outcome,
    pub sort_first: Outcome,
    pub sort_deep: Outcome,
    pub deep_start: u64,
}

/// Runs a scenario after a short unrecorded warm-up (first-touch page faults
/// and prepared-statement caches are not what the table is about).
async fn scenario<F>(target: &Target, plan: Plan, make: F) -> Outcome
where
    F: Fn(usize, u64) -> Vec<Step> + Send + Sync + Clone + 'static,
{
    let warm = Plan {
        max_iterations: (plan.workers as u64) * 5,
        duration: Duration::from_secs(5),
        ..plan
    };
    let _ = measure::run(target, warm, 1, make.clone()).await;
    measure::run(target, plan, 1, make)
        .await
        .into_iter()
        .next()
        .unwrap_or_default()
}

pub async fn run(
    target: &Target,
    users: u64,
    since: &str,
    window_total: u64,
    plan: Plan,
    cursor_limit: Duration,
) -> Results {
    let mut rows = Vec::new();
    let (mut sort_first, mut sort_deep) = (Outcome::default(), Outcome::default());
    let row = |name: &str, outcome: &Outcome, note: String| Row {
        scenario: name.to_string(),
        workers: plan.workers,
        outcome: outcome.clone(),
        note,
    };

    let baseline = scenario(target, plan, move |_, k| {
        let u = synthetic_user(pick(k, 10, users));
        let want = u.id.clone();
        vec![Step {
            slot: 0,
            call: Call::get(format!("/Users/{}", u.id)),
            check: expect_json(&[200], move |v| {
                if str_at(v, "id") == want {
                    Ok(())
                } else {
                    Err(format!("200 but id '{}'", str_at(v, "id")))
                }
            }),
        }]
    })
    .await;
    rows.push(row("GET /Users/{id} (baseline)", &baseline, String::new()));

    let user_name_eq = scenario(target, plan, move |_, k| {
        let u = synthetic_user(pick(k, 1, users));
        let want = u.id.clone();
        vec![Step {
            slot: 0,
            call: Call::get(filter_path(&format!("userName eq \"{}\"", u.user_name), "")),
            check: expect_json(&[200], move |v| one_match(v, &want)),
        }]
    })
    .await;
    rows.push(row(
        "userName eq",
        &user_name_eq,
        "random existing user".into(),
    ));

    let external_id_eq = scenario(target, plan, move |_, k| {
        let u = synthetic_user(pick(k, 2, users));
        let want = u.id.clone();
        vec![Step {
            slot: 0,
            call: Call::get(filter_path(
                &format!("externalId eq \"{}\"", u.external_id),
                "",
            )),
            check: expect_json(&[200], move |v| one_match(v, &want)),
        }]
    })
    .await;
    rows.push(row("externalId eq", &external_id_eq, String::new()));

    let email_eq = scenario(target, plan, move |_, k| {
        let u = synthetic_user(pick(k, 3, users));
        let email = &u.emails[pick(k, 4, u.emails.len() as u64) as usize];
        let want = u.id.clone();
        vec![Step {
            slot: 0,
            call: Call::get(filter_path(&format!("emails.value eq \"{email}\""), "")),
            check: expect_json(&[200], move |v| one_match(v, &want)),
        }]
    })
    .await;
    rows.push(row(
        "emails.value eq",
        &email_eq,
        "primary or secondary address".into(),
    ));

    let sw = scenario(target, plan, move |_, k| {
        let u = synthetic_user(pick(k, 5, users));
        // "Given Fam": a prefix shared by a few hundred users at 1M.
        let prefix: String = match u.display_name.split_once(' ') {
            Some((given, family)) => format!("{given} {}", &family[..family.len().min(3)]),
            None => u.display_name.clone(),
        };
        let want = prefix.to_lowercase();
        vec![Step {
            slot: 0,
            call: Call::get(filter_path(
                &format!("displayName sw \"{prefix}\""),
                &format!("&count={PAGE}"),
            )),
            check: expect_json(&[200], move |v| {
                if total_results(v).unwrap_or(0) == 0 {
                    return Err("200 but no match for an existing prefix".into());
                }
                match resources(v)
                    .iter()
                    .map(|r| str_at(r, "displayName"))
                    .find(|d| !d.to_lowercase().starts_with(&want))
                {
                    Some(d) => Err(format!("200 but '{d}' does not start with '{want}'")),
                    None => Ok(()),
                }
            }),
        }]
    })
    .await;
    rows.push(row("displayName sw", &sw, format!("count={PAGE}")));

    // Every page requested is a full one (up to 10 pages), and the total
    // must be the count the bench read from the file before the run.
    let window = format!("meta.lastModified gt \"{since}\"");
    let pages = window_total.div_ceil(PAGE).clamp(1, 10);
    let since_owned = since.to_string();
    let lm = scenario(target, plan, {
        let window = window.clone();
        move |_, k| {
            let start = 1 + (k % pages) * PAGE;
            let since = since_owned.clone();
            vec![Step {
                slot: 0,
                call: Call::get(filter_path(
                    &window,
                    &format!("&startIndex={start}&count={PAGE}"),
                )),
                check: expect_json(&[200], move |v| {
                    if total_results(v) != Some(window_total) {
                        return Err(format!(
                            "200 but totalResults={:?}, expected {window_total}",
                            total_results(v)
                        ));
                    }
                    let list = resources(v);
                    if list.is_empty() {
                        return Err("200 but an empty page inside the window".into());
                    }
                    let floor = scimd::clock::parse(&since);
                    for r in list {
                        let lm = r
                            .get("meta")
                            .and_then(|m| m.get("lastModified"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if scimd::clock::parse(lm) <= floor {
                            return Err(format!(
                                "200 but lastModified '{lm}' is not after '{since}'"
                            ));
                        }
                    }
                    Ok(())
                }),
            }]
        }
    })
    .await;
    rows.push(row(
        "meta.lastModified gt (paged)",
        &lm,
        format!("count={PAGE}, pages 1..{pages} in turn, {window_total} match since {since}"),
    ));

    // Deep in the set: startIndex 500000 at 1M, half-way for smaller sets.
    let deep_start = (users / 2).clamp(1, 500_000);
    for (start, label) in [
        (1, "sortBy=userName startIndex=1".to_string()),
        (
            deep_start,
            format!("sortBy=userName startIndex={deep_start}"),
        ),
    ] {
        let expected = std::sync::Arc::new(sorted_page(users, start, PAGE));
        let outcome = scenario(target, plan, move |_, _| {
            let expected = expected.clone();
            vec![Step {
                slot: 0,
                call: Call::get(format!(
                    "/Users?sortBy=userName&startIndex={start}&count={PAGE}"
                )),
                check: expect_json(&[200], move |v| is_expected_page(v, &expected)),
            }]
        })
        .await;
        rows.push(row(&label, &outcome, format!("count={PAGE}")));
        if start == 1 {
            sort_first = outcome;
        } else {
            sort_deep = outcome;
        }
    }

    rows.push(cursor_walk(target, users, cursor_limit).await);

    Results {
        rows,
        user_name_eq,
        external_id_eq,
        email_eq,
        sort_first,
        sort_deep,
        deep_start,
    }
}

/// Follows `nextCursor` from `cursor=` to the end on one connection, or
/// until `limit` has passed. Every id is remembered, so duplicates or
/// missing users (an unstable cursor) show up in the note.
async fn cursor_walk(target: &Target, users: u64, limit: Duration) -> Row {
    let name = format!("cursor walk, count={CURSOR_PAGE}");
    let mut outcome = Outcome::default();
    let fail = |outcome: &mut Outcome, e: String| {
        outcome.errors += 1;
        outcome.first_error.get_or_insert(e);
    };
    let mut conn = match target.connect().await {
        Ok(c) => c,
        Err(e) => {
            fail(&mut outcome, e);
            return Row {
                scenario: name,
                workers: 1,
                outcome,
                note: String::new(),
            };
        }
    };
    let started = Instant::now();
    let mut seen: HashSet<String> = HashSet::with_capacity(users as usize);
    let mut returned = 0u64;
    let mut cursor = String::new();
    let mut finished = false;
    let max_pages = users / CURSOR_PAGE + 3;
    for _ in 0..max_pages {
        if started.elapsed() >= limit {
            break;
        }
        let call = Call::get(format!(
            "/Users?cursor={}&count={CURSOR_PAGE}",
            encode(&cursor)
        ));
        let reply = match conn.send(&call).await {
            Ok(r) => r,
            Err(e) => {
                fail(&mut outcome, e);
                break;
            }
        };
        outcome.bytes += reply.body.len() as u64;
        if reply.status != 200 {
            fail(&mut outcome, measure::status_error(&reply));
            break;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&reply.body) else {
            fail(&mut outcome, "200 but the body is not JSON".into());
            break;
        };
        outcome.latencies.push(reply.elapsed);
        for r in resources(&v) {
            seen.insert(str_at(r, "id").to_string());
            returned += 1;
        }
        match v.get("nextCursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => cursor = next.to_string(),
            _ => {
                if returned < users {
                    fail(
                        &mut outcome,
                        format!("no nextCursor after {returned} of {users} users (cursor paging not supported?)"),
                    );
                } else {
                    finished = true;
                }
                break;
            }
        }
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies.sort_unstable();
    let pages = outcome.latencies.len();
    let state = if finished {
        "complete"
    } else if started.elapsed() >= limit {
        "stopped at the time limit"
    } else {
        "incomplete"
    };
    let note = format!(
        "{state}: {pages} pages, {} distinct of {returned} returned / {users} users in {:.1} s ({:.1} pages/s, {})",
        seen.len(),
        outcome.elapsed.as_secs_f64(),
        pages as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
        measure::human_bytes(outcome.bytes),
    );
    Row {
        scenario: name,
        workers: 1,
        outcome,
        note,
    }
}
