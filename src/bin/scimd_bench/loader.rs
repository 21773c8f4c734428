//! Fast synthetic data for the load benchmark: writes many users (and groups
//! with large member lists) of one integration straight into a fresh
//! database, bypassing HTTP and the writer thread. Rows are exactly what the
//! server stores: each resource goes through the same canonicalisation
//! (`scim::resource::normalize`) and the same column derivation
//! (`store::users::columns`) as a POST, roles and entitlement come from
//! `entitlement::recompute_user`, and groups are created with
//! `groups::insert`. What it skips on purpose: one audit row per user and per
//! membership (the benchmark never reads the trail, and a million of them
//! would only slow the load), and durability (`synchronous=OFF`, in-memory
//! rollback journal) — acceptable because the file is a throwaway benchmark
//! database, never a real one.
//!
//! Users are a pure function of their index (`synthetic_user`), so the
//! benchmark can ask for "user 734 512" by userName, externalId, email or id
//! without keeping a million ids in memory.

use rusqlite::{params, Connection};
use scimd::scim::resource;
use scimd::scim::schema::{ENTERPRISE_USER_URN, GROUP_TYPE, USER_TYPE};
use scimd::store::audit::Actor;
use scimd::store::settings::{self, Settings};
use scimd::store::users::{columns, Columns};
use scimd::store::{
    connection, entitlement, groups, in_transaction, integrations, migrate, tokens, Result,
    StoreError,
};
use serde_json::{json, Value};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc;
use time::{Duration, OffsetDateTime};

/// Rows written per transaction: big enough that commits are rare, small
/// enough that the in-memory rollback journal stays modest.
const BATCH: u64 = 50_000;

/// Page cache for the load, in KiB (negative = KiB for SQLite): the indexes
/// of a million users stay in memory, so random-order UUID inserts never
/// re-read pages from disk.
const LOAD_CACHE_KIB: i64 = 512 * 1024;

/// The span of `meta.created`/`meta.lastModified` values: the year before
/// the load, so every timestamp is in the past.
const SPREAD_DAYS: i64 = 365;

const GIVEN: &[&str] = &[
    "Ada", "Alan", "Alice", "Amara", "Ana", "Arjun", "Bea", "Ben", "Carla", "Chen", "Dana",
    "David", "Elena", "Emil", "Eva", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan",
    "Jade", "Jon", "Kai", "Kenji", "Lara", "Leo", "Lina", "Luca", "Maya", "Mateo", "Mia", "Nia",
    "Noah", "Olga", "Omar", "Paula", "Pedro", "Quinn", "Rosa", "Ravi", "Sara", "Sven", "Tara",
    "Tomas", "Uma", "Victor", "Wen", "Yara", "Yusuf", "Zoe",
];

const FAMILY: &[&str] = &[
    "Abe",
    "Adler",
    "Alvarez",
    "Bauer",
    "Becker",
    "Brown",
    "Costa",
    "Chowdhury",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Gupta",
    "Hansen",
    "Hoffmann",
    "Ito",
    "Jansen",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Nakamura",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Petrov",
    "Quispe",
    "Rossi",
    "Russo",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Tanaka",
    "Torres",
    "Ueda",
    "Vargas",
    "Weber",
    "Wong",
    "Xu",
    "Yilmaz",
    "Young",
    "Zhang",
    "Zimmermann",
    "Nguyen",
];

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Support",
    "Finance",
    "Operations",
    "Legal",
    "Marketing",
    "People",
];

/// SplitMix64: a tiny, good-enough mixer that makes every synthetic value a
/// pure function of (index, salt), with no state to carry between users.
fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The facts of synthetic user `i` that a benchmark queries by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticUser {
    pub id: String,
    pub user_name: String,
    pub external_id: String,
    pub display_name: String,
    /// Primary first; about half the users have a second (home) address.
    pub emails: Vec<String>,
}

/// Deterministic UUID-v4-shaped id of user `i`: random-looking (so the id
/// index sees the same random insert order as real server-generated ids) yet
/// recomputable from the index alone.
fn user_id(i: u64) -> String {
    let hi = mix(i, 1);
    let lo = mix(i, 2);
    let hi = (hi & !0x0000_0000_0000_F000) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

pub fn synthetic_user(i: u64) -> SyntheticUser {
    let given = GIVEN[(mix(i, 3) % GIVEN.len() as u64) as usize];
    let family = FAMILY[(mix(i, 4) % FAMILY.len() as u64) as usize];
    let mut emails = vec![format!("user{i}@example.com")];
    if mix(i, 5).is_multiple_of(2) {
        emails.push(format!(
            "{}.{}.{i}@mail.example.net",
            given.to_lowercase(),
            family.to_lowercase()
        ));
    }
    SyntheticUser {
        id: user_id(i),
        user_name: format!("user{i}@example.com"),
        external_id: format!("00u{:012x}", mix(i, 6) & 0xFFFF_FFFF_FFFF),
        display_name: format!("{given} {family}"),
        emails,
    }
}

/// The request body an IdP would POST for user `i`.
pub fn user_body(i: u64, u: &SyntheticUser) -> Value {
    let (given, family) = u
        .display_name
        .split_once(' ')
        .unwrap_or((&u.display_name, ""));
    let mut emails = vec![json!({"value": u.emails[0], "type": "work", "primary": true})];
    if let Some(home) = u.emails.get(1) {
        emails.push(json!({"value": home, "type": "home"}));
    }
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_URN],
        "userName": u.user_name,
        "externalId": u.external_id,
        "name": {"givenName": given, "familyName": family, "formatted": u.display_name},
        "displayName": u.display_name,
        "emails": emails,
        // About one user in twenty is deactivated, as in a real directory.
        "active": !mix(i, 7).is_multiple_of(20),
        ENTERPRISE_USER_URN: {
            "employeeNumber": format!("{}", 100_000 + i),
            "department": DEPARTMENTS[(mix(i, 8) % DEPARTMENTS.len() as u64) as usize],
        },
    })
}

/// One user ready to insert.
struct Row {
    id: String,
    cols: Columns,
    json: String,
    created: String,
    modified: String,
    version: i64,
}

/// `meta.created`, `meta.lastModified` and version of user `i` of `n`:
/// creation spread evenly over the year (so distinct), modification at a
/// pseudo-random later moment for most users.
fn times(now: OffsetDateTime, i: u64, n: u64) -> (String, String, i64) {
    let span_ms = SPREAD_DAYS * 86_400_000;
    let start = now - Duration::days(SPREAD_DAYS);
    let created_ms = (i128::from(i) * i128::from(span_ms) / i128::from(n.max(1))) as i64;
    let created = start + Duration::milliseconds(created_ms);
    let left = span_ms - created_ms;
    let r = mix(i, 9);
    if r.is_multiple_of(5) || left <= 1 {
        // Never modified since creation.
        let s = scimd::clock::format(created);
        return (s.clone(), s, 1);
    }
    let later = 1 + (r >> 8) % (left as u64 - 1).max(1);
    let modified = created + Duration::milliseconds(later as i64);
    let version = 2 + ((r >> 40) % 4) as i64;
    (
        scimd::clock::format(created),
        scimd::clock::format(modified),
        version,
    )
}

fn row(now: OffsetDateTime, i: u64, total: u64) -> Result<Row> {
    let synthetic = synthetic_user(i);
    // The server's own canonicalisation and column derivation: the loader
    // cannot store a shape the server would not.
    let stored = resource::normalize(&USER_TYPE, &user_body(i, &synthetic))?;
    let cols = columns(&stored)?;
    let (created, modified, version) = times(now, i, total);
    Ok(Row {
        id: synthetic.id,
        cols,
        json: serde_json::to_string(&stored)?,
        created,
        modified,
        version,
    })
}

fn insert_rows(c: &Connection, integration_id: &str, rows: &[Row]) -> Result<()> {
    let s = settings::get(c, integration_id)?;
    let mut user = c.prepare_cached(
        "INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, external_id,
            primary_email, display_name, active, created, last_modified, version, resource)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    let mut email = c.prepare_cached(
        "INSERT INTO scim_user_email(user_seq, integration_id, value_fold, type, is_primary)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in rows {
        let seq = user.insert(params![
            integration_id,
            r.id,
            r.cols.user_name,
            r.cols.user_name_fold,
            r.cols.external_id,
            r.cols.primary_email,
            r.cols.display_name,
            r.cols.active,
            r.created,
            r.modified,
            r.version,
            r.json,
        ])?;
        for (value, kind, primary) in &r.cols.emails {
            email.execute(params![seq, integration_id, value, kind, primary])?;
        }
        // Roles, entitlement and PIN exactly as `users::insert` leaves them.
        entitlement::recompute_user(c, integration_id, seq, &s)?;
    }
    Ok(())
}

/// A load in progress: one connection tuned for bulk writes on a new file.
pub struct Loader {
    conn: Connection,
    /// End of the timestamp spread (the moment the loader was opened).
    now: OffsetDateTime,
}

/// Integration and token created for the benchmark.
#[derive(Debug, Clone)]
pub struct BenchIntegration {
    pub id: String,
    /// The bearer secret (the database keeps only its hash).
    pub token: String,
}

impl Loader {
    /// Creates and migrates a database at `path`, which must not exist yet:
    /// the durability shortcuts below are only acceptable on a new file.
    pub fn create(path: &Path) -> Result<Loader> {
        if path.exists() {
            return Err(StoreError::Corrupt(format!(
                "{} already exists; the bulk loader only writes new files",
                path.display()
            )));
        }
        let conn = connection::open_write(path)?;
        migrate::apply(&conn)?;
        // Leaving WAL for the load: a 50 000-user transaction would otherwise
        // be written twice (WAL, then checkpoint). `finish` restores WAL.
        conn.pragma_update(None, "journal_mode", "MEMORY")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "cache_size", -LOAD_CACHE_KIB)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(Loader {
            conn,
            now: scimd::clock::now(),
        })
    }

    /// Creates an integration and issues its token through the store's own
    /// functions, as `scimd integration create` does.
    pub fn integration(&self, name: &str) -> Result<BenchIntegration> {
        in_transaction(&self.conn, |c| {
            let id = scimd::secret::new_integration_id();
            integrations::create(c, &id, name)?;
            let token = tokens::issue(c, &id, &Actor::cli())?;
            lift_rate_limit(c, &id)?;
            Ok(BenchIntegration { id, token })
        })
    }

    /// Writes users `range` (indexes into the synthetic population of
    /// `total`, which fixes the timestamp spread) in insertion order, so
    /// their `seq` order is index order. `progress` gets the count done after
    /// each batch.
    pub fn users(
        &self,
        integration_id: &str,
        range: Range<u64>,
        total: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        let now = self.now;
        // Building and canonicalising the JSON is about a third of the work
        // and needs no database: a second thread does it, one batch ahead
        // of the inserts.
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Result<Vec<Row>>>(1);
            let batches = range.clone();
            scope.spawn(move || {
                let mut start = batches.start;
                while start < batches.end {
                    let end = (start + BATCH).min(batches.end);
                    let batch: Result<Vec<Row>> =
                        (start..end).map(|i| row(now, i, total)).collect();
                    let failed = batch.is_err();
                    // A closed channel means the inserting side gave up.
                    if tx.send(batch).is_err() || failed {
                        return;
                    }
                    start = end;
                }
            });
            let mut done = 0;
            for batch in rx {
                let batch = batch?;
                in_transaction(&self.conn, |c| insert_rows(c, integration_id, &batch))?;
                done += batch.len() as u64;
                progress(done);
            }
            Ok(())
        })
    }

    /// Creates a group through `groups::insert` and makes the users with
    /// indexes `members` (in seq order, as loaded by `users`) its members,
    /// one membership row each. Returns the group id.
    pub fn group(
        &self,
        integration_id: &str,
        display_name: &str,
        members: Range<u64>,
    ) -> Result<String> {
        in_transaction(&self.conn, |c| {
            let mut body = resource::normalize(
                &GROUP_TYPE,
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": display_name,
                    "externalId": format!("grp-{}", display_name.to_lowercase().replace(' ', "-")),
                }),
            )?;
            groups::take_members(&mut body);
            let id = scimd::secret::new_resource_id();
            groups::insert(c, integration_id, &id, &body, &[], &Actor::cli())?;
            let group_seq: i64 = c.query_row(
                "SELECT seq FROM scim_group WHERE integration_id = ?1 AND id = ?2",
                params![integration_id, id],
                |r| r.get(0),
            )?;
            // Users are stored in index order, so the members are a seq range.
            c.execute(
                "INSERT INTO membership(group_seq, member_user_seq)
                 SELECT ?1, seq FROM scim_user WHERE integration_id = ?2
                 ORDER BY seq LIMIT ?3 OFFSET ?4",
                params![
                    group_seq,
                    integration_id,
                    (members.end - members.start) as i64,
                    members.start as i64
                ],
            )?;
            // As a membership change in the server does: recompute the
            // members' roles and entitlement in the same transaction.
            let affected = entitlement::users_under_group(c, group_seq)?;
            entitlement::recompute_users(c, integration_id, &affected)?;
            Ok(id)
        })
    }

    /// Puts the file back in the server's configuration (WAL, full sync)
    /// and closes it, so a server can open it next. The planner statistics
    /// are gathered here, as a server that has run once would have left
    /// them: otherwise the server gathers them just after it is ready, and
    /// that write would land inside the first measurement.
    pub fn finish(self) -> Result<()> {
        scimd::store::connection::refresh_statistics(&self.conn)?;
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.close().map_err(|(_, e)| StoreError::Db(e))
    }
}

/// The benchmark measures the server, not its per-integration request rate
/// limit (100/s by default), so its integration gets one far above what
/// the machine can serve.
fn lift_rate_limit(c: &Connection, integration_id: &str) -> Result<()> {
    let unlimited = Settings {
        rate_limit: 1_000_000_000,
        rate_burst: 1_000_000_000,
        ..settings::get(c, integration_id)?
    };
    settings::put(c, integration_id, &unlimited)
}

/// Reuses a database an earlier run loaded: finds the integration called
/// `name` and issues a fresh token for this run (the earlier token was never
/// stored, only its hash).
pub fn reopen(path: &Path, name: &str) -> Result<BenchIntegration> {
    let conn = connection::open_write(path)?;
    migrate::apply(&conn)?;
    in_transaction(&conn, |c| {
        let found = integrations::list(c)?
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{} has no integration named '{name}': not a benchmark database",
                    path.display()
                ))
            })?;
        let token = tokens::issue(c, &found.id, &Actor::cli())?;
        lift_rate_limit(c, &found.id)?;
        Ok(BenchIntegration {
            id: found.id,
            token,
        })
    })
}

/// The id of the group a loader created under `display_name`, if any.
pub fn find_group(path: &Path, integration_id: &str, display_name: &str) -> Result<Option<String>> {
    let conn = connection::open_read(path)?;
    let mut stmt = conn.prepare(
        "SELECT id FROM scim_group WHERE integration_id = ?1 AND display_name = ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query_map(params![integration_id, display_name], |r| r.get(0))?;
    Ok(rows.next().transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "scimd-bulk-{}-{}-{name}",
            std::process::id(),
            scimd::secret::new_request_id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("bench.db")
    }

    #[test]
    fn synthetic_users_are_deterministic_and_distinct() {
        assert_eq!(synthetic_user(42), synthetic_user(42));
        assert_ne!(synthetic_user(1).id, synthetic_user(2).id);
        let id = synthetic_user(7).id;
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn loaded_rows_match_what_the_server_reads() {
        let path = temp_db("rows");
        let loader = Loader::create(&path).expect("create");
        let int = loader.integration("bench").expect("integration");
        loader.users(&int.id, 0..120, 120, |_| {}).expect("users");
        let gid = loader.group(&int.id, "Big Group", 10..60).expect("group");
        loader.finish().expect("finish");

        let conn = connection::open_read(&path).expect("open");
        let u = synthetic_user(17);
        let stored = scimd::store::users::get(&conn, &int.id, &u.id)
            .expect("get")
            .expect("user 17 exists");
        assert_eq!(stored.resource["userName"], u.user_name.as_str());
        assert!(stored.created <= stored.last_modified);
        let emails: i64 = conn
            .query_row(
                "SELECT count(*) FROM scim_user_email WHERE integration_id = ?1 AND value_fold = ?2",
                params![int.id, u.emails[0]],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(emails, 1);
        let g = groups::get(&conn, &int.id, &gid, true)
            .expect("group get")
            .expect("group exists");
        assert_eq!(g.members.map(|m| m.len()), Some(50));
        assert!(tokens::authenticate(&conn, &int.token)
            .expect("auth")
            .is_some());
        // Active users with no mapping required are entitled, as after a POST.
        let entitled: i64 = conn
            .query_row(
                "SELECT count(*) FROM scim_user WHERE integration_id = ?1 AND entitled = active",
                [&int.id],
                |r| r.get(0),
            )
            .expect("entitled");
        assert_eq!(entitled, 120);
        let _ = std::fs::remove_dir_all(path.parent().expect("parent"));
    }
}
