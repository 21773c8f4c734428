//! The webhook outbox: the deliveries an event owes each matching hook,
//! written in the event's transaction so a restart loses none and a rolled
//! back change owes nothing. Each row holds the exact body to POST
//! (`{"type","timestamp","data"}`), built here once per hook because hooks
//! differ in whether they see the PIN. Sending is the delivery task's job.

use super::feed::Event;
use super::webhooks::{self, NewDelivery, EVENT_PREFIX};
use super::Result;
use rusqlite::Connection;
use serde_json::{json, Value};

/// Writes one delivery row per enabled hook of the event's integration that
/// asks for its type, inside the caller's transaction. An integration
/// without hooks costs one cached index lookup.
pub fn enqueue(conn: &Connection, event: &Event) -> Result<()> {
    let targets = webhooks::targets(conn, &event.integration)?;
    if targets.is_empty() {
        return Ok(());
    }
    // At most two bodies: with and without the PIN.
    let mut bodies: [Option<String>; 2] = [None, None];
    for t in targets.iter().filter(|t| t.patterns.matches(event.kind)) {
        let slot = &mut bodies[usize::from(t.include_pin)];
        if slot.is_none() {
            *slot = Some(serde_json::to_string(&payload(event, t.include_pin))?);
        }
        let Some(body) = slot.as_deref() else {
            continue;
        };
        webhooks::insert_delivery(
            conn,
            &NewDelivery {
                webhook_id: &t.id,
                event_seq: event.seq,
                event_type: event.kind.as_str(),
                resource_id: &event.resource_id,
                payload: body,
                created: &event.time,
            },
        )?;
    }
    Ok(())
}

/// The body a hook receives: the event's `data` without its `pin` unless
/// the hook was added with `--include-pin`.
pub fn payload(event: &Event, include_pin: bool) -> Value {
    let mut data = event.data.clone();
    if !include_pin {
        if let Some(obj) = data.as_object_mut() {
            obj.remove("pin");
        }
    }
    json!({
        "type": format!("{EVENT_PREFIX}{}", event.kind.as_str()),
        "timestamp": event.time,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::feed::{self, EventType};
    use crate::store::webhooks::{NewHook, Patterns};

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        crate::store::integrations::create(&c, "int_a", "a").unwrap();
        c
    }

    fn hook(c: &Connection, events: &str, include_pin: bool) -> String {
        let patterns = Patterns::parse(events).unwrap();
        let new = NewHook {
            url: "http://127.0.0.1:9/",
            patterns: &patterns,
            include_pin,
            ca_pem: None,
        };
        webhooks::add(c, "int_a", &new).unwrap().0.id
    }

    fn payloads(c: &Connection, hook: &str) -> Vec<Value> {
        let mut stmt = c
            .prepare("SELECT payload FROM webhook_delivery WHERE webhook_id = ?1 ORDER BY seq")
            .unwrap();
        stmt.query_map([hook], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn an_event_is_owed_only_to_hooks_whose_patterns_match() {
        let c = db();
        let users = hook(&c, "user.*", false);
        let tokens = hook(&c, "token.*", false);
        feed::record(&c, "int_a", EventType::UserCreated, "u1", json!({})).unwrap();
        assert_eq!(payloads(&c, &users).len(), 1);
        assert!(payloads(&c, &tokens).is_empty());
    }

    #[test]
    fn the_payload_names_the_platform_event_and_carries_time_and_data() {
        let c = db();
        let h = hook(&c, "*", false);
        feed::record(
            &c,
            "int_a",
            EventType::UserCreated,
            "u1",
            json!({"id": "u1"}),
        )
        .unwrap();
        let p = &payloads(&c, &h)[0];
        assert_eq!(p["type"], "platform.scim.user.created");
        assert_eq!(p["data"], json!({"id": "u1"}));
        assert!(p["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn the_pin_reaches_only_hooks_added_with_include_pin() {
        let c = db();
        let without = hook(&c, "*", false);
        let with = hook(&c, "*", true);
        let data = json!({"id": "u1", "pin": "123456"});
        feed::record(&c, "int_a", EventType::UserCreated, "u1", data).unwrap();
        assert_eq!(payloads(&c, &without)[0]["data"], json!({"id": "u1"}));
        assert_eq!(payloads(&c, &with)[0]["data"]["pin"], "123456");
    }

    #[test]
    fn another_integrations_hooks_are_owed_nothing() {
        let c = db();
        crate::store::integrations::create(&c, "int_b", "b").unwrap();
        let h = hook(&c, "*", false);
        feed::record(&c, "int_b", EventType::UserCreated, "u1", json!({})).unwrap();
        assert!(payloads(&c, &h).is_empty());
    }

    #[test]
    fn a_later_event_of_a_resource_waits_for_the_earlier_one() {
        let c = db();
        hook(&c, "*", false);
        feed::record(&c, "int_a", EventType::UserCreated, "u1", json!({})).unwrap();
        feed::record(&c, "int_a", EventType::UserUpdated, "u1", json!({})).unwrap();
        feed::record(&c, "int_a", EventType::UserCreated, "u2", json!({})).unwrap();
        let far = "9999-01-01T00:00:00.000Z";
        let due = webhooks::due(&c, far, 10).unwrap();
        let seqs: Vec<i64> = due.iter().map(|d| d.seq).collect();
        assert_eq!(seqs, vec![1, 3], "u1's update waits for u1's creation");
        let done = webhooks::Attempt {
            seq: 1,
            status: Some(200),
            error: None,
            verdict: webhooks::Verdict::Delivered,
        };
        webhooks::finish(&c, &done).unwrap();
        let seqs: Vec<i64> = webhooks::due(&c, far, 10)
            .unwrap()
            .iter()
            .map(|d| d.seq)
            .collect();
        assert_eq!(seqs, vec![2, 3]);
    }

    #[test]
    fn a_retry_is_not_due_before_its_time() {
        let c = db();
        hook(&c, "*", false);
        feed::record(&c, "int_a", EventType::UserCreated, "u1", json!({})).unwrap();
        let retry = webhooks::Attempt {
            seq: 1,
            status: Some(500),
            error: Some("HTTP 500".into()),
            verdict: webhooks::Verdict::RetryAt("9000-01-01T00:00:00.000Z".into()),
        };
        webhooks::finish(&c, &retry).unwrap();
        assert!(webhooks::due(&c, "8999-12-31T23:59:59.999Z", 10)
            .unwrap()
            .is_empty());
        let d = webhooks::due(&c, "9000-01-01T00:00:00.000Z", 10).unwrap();
        assert_eq!(d[0].attempts, 1);
    }

    #[test]
    fn an_integration_without_hooks_writes_no_delivery() {
        let c = db();
        feed::record(&c, "int_a", EventType::UserCreated, "u1", json!({})).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM webhook_delivery", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
