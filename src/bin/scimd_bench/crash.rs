//! The kill -9 soak of issue 16: scimd must never lose a change it has
//! acknowledged. Each round starts the real `scimd serve` on the same
//! database, checks that everything acknowledged so far is still there, lets
//! several writers (each on its own keep-alive connection, each owning its
//! own users and group) create, replace, patch, add members and send Bulk
//! requests, and SIGKILLs the server at a random moment. `scimd check` then
//! runs on the file the dead server left behind, before the next start.
//!
//! What counts: a 2xx answer acknowledges a write (each 2xx operation of a
//! Bulk counts on its own). A request that got no answer because the server
//! died may or may not have been applied; any other answer means it was not.
//! So after a restart a user's `nickName` must be the last acknowledged
//! version or that of its one unanswered request, a group's members must
//! include every acknowledged add and nothing but acknowledged or unanswered
//! adds, and a user whose create got no answer may exist only with the
//! content that create sent. Anything else is a lost (or invented) write.

use crate::client::{Call, Conn, Reply, Target};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// Earlier rounds' resources re-checked after every restart, besides the
/// previous round's (all of them are checked once more at the end).
const OLDER_SAMPLE: usize = 50;

pub struct Options {
    pub rounds: u64,
    pub writers: usize,
    /// The kill comes at a uniformly random moment in this window after the
    /// writers start, in milliseconds.
    pub kill_after_ms: (u64, u64),
    /// The server binary (None: `scimd` beside this benchmark).
    pub scimd: Option<PathBuf>,
    /// Print one line per round.
    pub verbose: bool,
}

#[derive(Default)]
pub struct Totals {
    pub rounds: u64,
    pub acknowledged: u64,
    pub unanswered: u64,
    pub refused: u64,
    pub lost: u64,
    pub checks_failed: u64,
    pub elapsed: Duration,
    /// The first few problems, for the report.
    pub problems: Vec<String>,
    /// The resources found wrong, so a loss re-checked in a later round
    /// counts once.
    lost_keys: std::collections::HashSet<String>,
}

impl Totals {
    fn problem(&mut self, what: String) {
        if self.problems.len() < 20 {
            self.problems.push(what);
        }
    }
}

/// A user one writer owns: the versions its `nickName` may show.
#[derive(Clone, Debug)]
struct UserModel {
    id: String,
    user_name: String,
    acked: String,
    /// The version sent by a request that never got an answer.
    pending: Option<String>,
}

/// A user whose create got no answer: it may exist, with this content.
#[derive(Clone, Debug)]
struct MaybeUser {
    user_name: String,
    nick: String,
}

#[derive(Clone, Debug)]
struct GroupModel {
    id: String,
    acked: BTreeSet<String>,
    pending: BTreeSet<String>,
}

#[derive(Clone, Debug)]
enum Model {
    User(UserModel),
    MaybeUser(MaybeUser),
    Group(GroupModel),
}

impl Model {
    fn key(&self) -> &str {
        match self {
            Model::User(u) => &u.id,
            Model::MaybeUser(m) => &m.user_name,
            Model::Group(g) => &g.id,
        }
    }
}

/// What one writer did in one round.
#[derive(Default)]
struct WriterLog {
    models: Vec<Model>,
    acknowledged: u64,
    unanswered: u64,
    refused: u64,
    /// Refusals other than the expected kind, quoted for the report.
    surprises: Vec<String>,
}

fn user_body(user_name: &str, nick: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "nickName": nick,
        "name": {"givenName": "Soak", "familyName": nick},
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true,
    })
}

fn nick_patch(nick: &str) -> Value {
    json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "nickName", "value": nick}],
    })
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn id_of(reply: &Reply) -> Option<String> {
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

fn call(method: hyper::Method, path: String, body: &Value) -> Call {
    Call {
        method,
        path,
        body: Some(body.to_string()),
        headers: Vec::new(),
    }
}

/// One writer's round: writes until its first request without an answer
/// (the server is dead; later ones would only fail the same way).
async fn writer(target: Target, w: usize, round: u64) -> WriterLog {
    let mut log = WriterLog::default();
    let Ok(mut conn) = target.connect().await else {
        return log;
    };
    let mut users: Vec<UserModel> = Vec::new();
    let mut group: Option<GroupModel> = None;
    let mut maybe: Vec<MaybeUser> = Vec::new();
    let mut k: u64 = 0;
    loop {
        k += 1;
        let tag = format!("r{round}w{w}k{k}");
        let pick: u32 = rand::thread_rng().gen_range(0..100);
        let alive = if users.len() < 2 || pick < 20 {
            create_user(&mut conn, &tag, &mut users, &mut maybe, &mut log).await
        } else if pick < 40 {
            let i = rand::thread_rng().gen_range(0..users.len());
            replace_user(&mut conn, &tag, &mut users[i], &mut log).await
        } else if pick < 60 {
            let i = rand::thread_rng().gen_range(0..users.len());
            patch_user(&mut conn, &tag, &mut users[i], &mut log).await
        } else if pick < 80 {
            add_member(&mut conn, &tag, &users, &mut group, &mut log).await
        } else {
            bulk(&mut conn, &tag, &mut users, &mut maybe, &mut log).await
        };
        if !alive {
            break;
        }
    }
    log.models.extend(users.into_iter().map(Model::User));
    log.models.extend(maybe.into_iter().map(Model::MaybeUser));
    log.models.extend(group.into_iter().map(Model::Group));
    log
}

/// Sends one request. None when no answer came (the server died); a refusal
/// is counted and returned like any answer.
async fn send(conn: &mut Conn, call: &Call, log: &mut WriterLog) -> Option<Reply> {
    match conn.send(call).await {
        Ok(reply) => {
            if is_success(reply.status) {
                log.acknowledged += 1;
            } else {
                log.refused += 1;
                // 429 and 503 ask the client to retry; anything else is a
                // refusal this workload should never provoke.
                if !matches!(reply.status, 429 | 503) && log.surprises.len() < 3 {
                    log.surprises.push(format!(
                        "{} {} answered {}: {}",
                        call.method,
                        call.path,
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
            }
            Some(reply)
        }
        Err(_) => {
            log.unanswered += 1;
            None
        }
    }
}

/// Returns whether the server answered.
async fn create_user(
    conn: &mut Conn,
    tag: &str,
    users: &mut Vec<UserModel>,
    maybe: &mut Vec<MaybeUser>,
    log: &mut WriterLog,
) -> bool {
    let user_name = format!("soak.{tag}");
    let nick = format!("{tag}.c");
    let c = call(
        hyper::Method::POST,
        "/Users".into(),
        &user_body(&user_name, &nick),
    );
    match send(conn, &c, log).await {
        None => {
            maybe.push(MaybeUser { user_name, nick });
            false
        }
        Some(reply) => {
            if is_success(reply.status) {
                match id_of(&reply) {
                    Some(id) => users.push(UserModel {
                        id,
                        user_name,
                        acked: nick,
                        pending: None,
                    }),
                    None => log
                        .surprises
                        .push(format!("201 without an id for {user_name}")),
                }
            }
            true
        }
    }
}

async fn replace_user(
    conn: &mut Conn,
    tag: &str,
    user: &mut UserModel,
    log: &mut WriterLog,
) -> bool {
    let nick = format!("{tag}.put");
    let c = call(
        hyper::Method::PUT,
        format!("/Users/{}", user.id),
        &user_body(&user.user_name, &nick),
    );
    settle(send(conn, &c, log).await, user, nick)
}

async fn patch_user(conn: &mut Conn, tag: &str, user: &mut UserModel, log: &mut WriterLog) -> bool {
    let nick = format!("{tag}.patch");
    let c = call(
        hyper::Method::PATCH,
        format!("/Users/{}", user.id),
        &nick_patch(&nick),
    );
    settle(send(conn, &c, log).await, user, nick)
}

/// Records what a PUT or PATCH of `user` to `nick` means for its model.
fn settle(answer: Option<Reply>, user: &mut UserModel, nick: String) -> bool {
    match answer {
        None => {
            user.pending = Some(nick);
            false
        }
        Some(reply) => {
            if is_success(reply.status) {
                user.acked = nick;
            }
            true
        }
    }
}

async fn add_member(
    conn: &mut Conn,
    tag: &str,
    users: &[UserModel],
    group: &mut Option<GroupModel>,
    log: &mut WriterLog,
) -> bool {
    let Some(g) = group else {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("soak group {tag}")});
        let c = call(hyper::Method::POST, "/Groups".into(), &body);
        return match send(conn, &c, log).await {
            // An unanswered group create is not followed up: groups are
            // there to receive members, their creation is checked through them.
            None => false,
            Some(reply) => {
                if is_success(reply.status) {
                    if let Some(id) = id_of(&reply) {
                        *group = Some(GroupModel {
                            id,
                            acked: BTreeSet::new(),
                            pending: BTreeSet::new(),
                        });
                    }
                }
                true
            }
        };
    };
    let Some(user) = users.iter().find(|u| !g.acked.contains(&u.id)) else {
        return true;
    };
    let body = json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user.id}]}],
    });
    let c = call(hyper::Method::PATCH, format!("/Groups/{}", g.id), &body);
    match send(conn, &c, log).await {
        None => {
            g.pending.insert(user.id.clone());
            false
        }
        Some(reply) => {
            if is_success(reply.status) {
                g.acked.insert(user.id.clone());
            }
            true
        }
    }
}

/// Two creates and a PATCH of an existing user in one Bulk request.
async fn bulk(
    conn: &mut Conn,
    tag: &str,
    users: &mut Vec<UserModel>,
    maybe: &mut Vec<MaybeUser>,
    log: &mut WriterLog,
) -> bool {
    let i = rand::thread_rng().gen_range(0..users.len());
    let patched_nick = format!("{tag}.bulkpatch");
    let created: Vec<(String, String, String)> = (0..2)
        .map(|n| {
            (
                format!("b{n}"),
                format!("soak.{tag}.b{n}"),
                format!("{tag}.b{n}"),
            )
        })
        .collect();
    let mut ops: Vec<Value> = created
        .iter()
        .map(|(bulk_id, user_name, nick)| {
            json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
                   "data": user_body(user_name, nick)})
        })
        .collect();
    ops.push(
        json!({"method": "PATCH", "path": format!("/Users/{}", users[i].id),
                    "data": nick_patch(&patched_nick)}),
    );
    let body = json!({"schemas": [BULK_REQUEST], "Operations": ops});
    let c = call(hyper::Method::POST, "/Bulk".into(), &body);
    let Some(reply) = send(conn, &c, log).await else {
        users[i].pending = Some(patched_nick);
        for (_, user_name, nick) in created {
            maybe.push(MaybeUser { user_name, nick });
        }
        return false;
    };
    if !is_success(reply.status) {
        return true;
    }
    // The request's 2xx was counted once; each operation is a write of its own.
    log.acknowledged -= 1;
    let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let results = v["Operations"].as_array().cloned().unwrap_or_default();
    for r in &results {
        let status: u16 = r["status"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if !is_success(status) {
            log.refused += 1;
            if log.surprises.len() < 3 {
                log.surprises.push(format!("a Bulk operation answered {r}"));
            }
            continue;
        }
        log.acknowledged += 1;
        match r["bulkId"].as_str() {
            Some(bulk_id) => {
                let location = r["location"].as_str().unwrap_or("");
                let id = location.rsplit('/').next().unwrap_or("").to_string();
                if let Some((_, user_name, nick)) = created.iter().find(|(b, _, _)| b == bulk_id) {
                    users.push(UserModel {
                        id,
                        user_name: user_name.clone(),
                        acked: nick.clone(),
                        pending: None,
                    });
                }
            }
            None => users[i].acked = patched_nick.clone(),
        }
    }
    true
}

/// What a restarted server shows for one model: None when it agrees.
async fn verify(conn: &mut Conn, model: &Model) -> Result<Option<String>, String> {
    match model {
        Model::User(u) => {
            let reply = conn.send(&Call::get(format!("/Users/{}", u.id))).await?;
            if reply.status != 200 {
                return Ok(Some(format!(
                    "user {} (acknowledged as {}) answers {}",
                    u.id, u.acked, reply.status
                )));
            }
            let v: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| format!("GET /Users/{}: not JSON: {e}", u.id))?;
            let nick = v["nickName"].as_str().unwrap_or("");
            if nick == u.acked || u.pending.as_deref() == Some(nick) {
                Ok(None)
            } else {
                Ok(Some(format!(
                    "user {} shows nickName {nick:?}; acknowledged {:?}, unanswered {:?}",
                    u.id, u.acked, u.pending
                )))
            }
        }
        Model::MaybeUser(m) => {
            let filter = crate::client::encode(&format!("userName eq \"{}\"", m.user_name));
            let reply = conn
                .send(&Call::get(format!("/Users?filter={filter}")))
                .await?;
            if reply.status != 200 {
                return Err(format!(
                    "searching {} answered {}",
                    m.user_name, reply.status
                ));
            }
            let v: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| format!("search for {}: not JSON: {e}", m.user_name))?;
            let found = v["Resources"].as_array().cloned().unwrap_or_default();
            match found.as_slice() {
                [] => Ok(None),
                [one] if one["nickName"].as_str() == Some(m.nick.as_str()) => Ok(None),
                _ => Ok(Some(format!(
                    "unanswered create of {} shows {}",
                    m.user_name,
                    Value::Array(found)
                ))),
            }
        }
        Model::Group(g) => {
            let reply = conn.send(&Call::get(format!("/Groups/{}", g.id))).await?;
            if reply.status != 200 {
                return Ok(Some(format!("group {} answers {}", g.id, reply.status)));
            }
            let v: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| format!("GET /Groups/{}: not JSON: {e}", g.id))?;
            let shown: BTreeSet<String> = v["members"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m["value"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let missing: Vec<&String> = g.acked.difference(&shown).collect();
            let invented: Vec<&String> = shown
                .iter()
                .filter(|m| !g.acked.contains(*m) && !g.pending.contains(*m))
                .collect();
            if missing.is_empty() && invented.is_empty() {
                Ok(None)
            } else {
                Ok(Some(format!(
                    "group {}: acknowledged members missing {missing:?}, never acknowledged present {invented:?}",
                    g.id
                )))
            }
        }
    }
}

/// Checks `models` against the running server, counting each resource
/// found wrong once over the whole soak.
async fn verify_all(target: &Target, models: &[&Model], totals: &mut Totals) -> Result<(), String> {
    let mut conn = target.connect().await?;
    for model in models {
        if let Some(problem) = verify(&mut conn, model).await? {
            if totals.lost_keys.insert(model.key().to_string()) {
                totals.lost += 1;
                totals.problem(problem);
            }
        }
    }
    Ok(())
}

fn run_check(scimd: &Path, db: &Path) -> Result<(), String> {
    let out = Command::new(scimd)
        .arg("--db")
        .arg(db)
        .arg("check")
        .output()
        .map_err(|e| format!("cannot run {} check: {e}", scimd.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scimd check failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn run(runtime: &tokio::runtime::Runtime, db: &Path, opts: &Options) -> Result<Totals, String> {
    let scimd = match &opts.scimd {
        Some(p) => p.clone(),
        None => crate::server::scimd_binary()?,
    };
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut credentials: Option<(String, String)> = None;
    // Everything acknowledged so far; the previous round's part is checked
    // whole after each restart, the rest by sample.
    let mut history: Vec<Model> = Vec::new();
    let mut previous_round = 0..0;
    for round in 1..=opts.rounds + 1 {
        let server = crate::server::start_with(db, Some(&scimd), &[])?;
        if credentials.is_none() {
            credentials = server.first_integration.clone();
        }
        let (id, token) = credentials
            .clone()
            .ok_or("the server created no integration on the empty database")?;
        let target = Target::new(server.addr, &server.fingerprint, &token, &id)?;

        let last = round > opts.rounds;
        let mut to_check: Vec<&Model> = history[previous_round.clone()].iter().collect();
        if last {
            to_check = history.iter().collect();
        } else if previous_round.start > 0 {
            let mut rng = rand::thread_rng();
            for _ in 0..OLDER_SAMPLE.min(previous_round.start) {
                to_check.push(&history[rng.gen_range(0..previous_round.start)]);
            }
        }
        runtime.block_on(verify_all(&target, &to_check, &mut totals))?;
        if last {
            break;
        }

        let kill_at = rand::thread_rng().gen_range(opts.kill_after_ms.0..=opts.kill_after_ms.1);
        let logs = runtime.block_on(async {
            let tasks: Vec<_> = (0..opts.writers)
                .map(|w| tokio::spawn(writer(target.clone(), w, round)))
                .collect();
            tokio::time::sleep(Duration::from_millis(kill_at)).await;
            // Dropping the handle SIGKILLs the server and reaps it.
            drop(server);
            let mut logs = Vec::new();
            for t in tasks {
                if let Ok(log) = t.await {
                    logs.push(log);
                }
            }
            logs
        });
        let start = history.len();
        let (mut acked, mut unanswered) = (0, 0);
        for log in logs {
            acked += log.acknowledged;
            unanswered += log.unanswered;
            totals.refused += log.refused;
            for s in log.surprises {
                totals.problem(format!("round {round}: {s}"));
            }
            history.extend(log.models);
        }
        totals.acknowledged += acked;
        totals.unanswered += unanswered;
        previous_round = start..history.len();
        totals.rounds = round;

        let check = run_check(&scimd, db);
        if let Err(e) = &check {
            totals.checks_failed += 1;
            totals.problem(format!("round {round}: {e}"));
        }
        if opts.verbose {
            println!(
                "round {round}: killed after {kill_at} ms, {acked} writes acknowledged, {unanswered} unanswered, check {}, lost so far {}",
                if check.is_ok() { "ok" } else { "FAILED" },
                totals.lost
            );
        }
    }
    totals.elapsed = started.elapsed();
    Ok(totals)
}
