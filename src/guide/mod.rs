//! The setup guide for each identity provider: where to click, which field
//! gets which value, the attribute-mapping table, the traps, and what
//! deprovisioning does under the integration's delete mode. Pure: the
//! values (integration id, public URL, delete mode) come in, text or
//! Markdown goes out. `scimd integration guide` prints it for one
//! integration; `docs/idp/<idp>.md` is the same text with placeholders, so
//! the CLI and the docs cannot drift (see the test at the bottom).
//! It never sees a token: the guide says how to get one instead.

mod idps;

use crate::scim::idp::Idp;
pub use idps::{guide_for, IdpGuide, ATTRIBUTES};

/// What a DELETE of a user does on this integration, as far as the guide
/// knows: the setting, or both when writing the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deprovision {
    Deactivate,
    Delete,
    /// The docs: describe both and say how to see and change the setting.
    Either,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
}

/// The values filled into a guide.
#[derive(Debug, Clone)]
pub struct Values {
    pub integration_id: String,
    /// `https://host:port` (no trailing slash), or a placeholder.
    pub public_url: String,
    pub deprovision: Deprovision,
    /// Said once under the base URL when the URL is a guess (the listen
    /// address) rather than what the admin configured.
    pub url_note: Option<String>,
}

impl Values {
    /// The placeholders of the committed docs.
    pub fn template() -> Values {
        Values {
            integration_id: "<INTEGRATION_ID>".into(),
            public_url: "<PUBLIC_URL>".into(),
            deprovision: Deprovision::Either,
            url_note: None,
        }
    }

    /// The SCIM base URL an IdP is given: everything lives under it.
    pub fn base_url(&self) -> String {
        format!(
            "{}/scim/{}",
            self.public_url.trim_end_matches('/'),
            self.integration_id
        )
    }

    fn fill(&self, s: &str) -> String {
        s.replace("{base}", &self.base_url())
            .replace("{id}", &self.integration_id)
            .replace("{url}", self.public_url.trim_end_matches('/'))
    }
}

/// A guide as blocks, rendered to text or Markdown by one function each.
enum Block {
    Title(String),
    Heading(String),
    Para(String),
    Steps(Vec<String>),
    Bullets(Vec<String>),
    Table(Vec<String>, Vec<Vec<String>>),
}

/// The whole guide for `idp`, filled with `v`.
pub fn render(idp: Idp, v: &Values, format: Format) -> String {
    let blocks = blocks(guide_for(idp), v);
    match format {
        Format::Text => text(&blocks),
        Format::Markdown => markdown(&blocks),
    }
}

/// The profile of `scimd selftest` closest to this IdP's requests.
pub fn selftest_profile(idp: Idp) -> &'static str {
    match idp {
        Idp::Okta => "okta",
        Idp::Entra => "entra",
        _ => "generic",
    }
}

/// What `integration show` says when the IdP recognised from traffic is not
/// the configured one: None when they agree, when nothing was recognised yet,
/// or when the integration is configured `generic` (any client is fine).
pub fn mismatch(configured: Idp, detected: Option<Idp>) -> Option<String> {
    let detected = detected?;
    if detected == configured || configured == Idp::Generic || detected == Idp::Generic {
        return None;
    }
    Some(format!(
        "configured for {} but the requests come from {}: check which IdP holds this \
         integration's token, or set `--idp {}` so the guide matches",
        configured.display_name(),
        detected.display_name(),
        detected.as_str()
    ))
}

fn blocks(g: &IdpGuide, v: &Values) -> Vec<Block> {
    let fill = |items: &[&str]| items.iter().map(|s| v.fill(s)).collect::<Vec<_>>();
    let mut out = vec![
        Block::Title(format!("Set up {} for scimd", g.idp.display_name())),
        Block::Para(v.fill(g.intro)),
        Block::Heading("Values".into()),
    ];
    let mut rows = vec![vec![
        "SCIM base URL".to_string(),
        format!("`{}`", v.base_url()),
    ]];
    rows.push(vec![
        "Bearer token".into(),
        format!(
            "printed once by `scimd integration create`; lost it? `scimd token rotate {}` \
             prints a new one (older tokens stay valid for an hour)",
            v.integration_id
        ),
    ]);
    rows.push(vec!["Authentication".into(), v.fill(g.auth)]);
    rows.push(vec![
        "Unique identifier for users".into(),
        "`userName`".into(),
    ]);
    out.push(Block::Table(vec!["What".into(), "Value".into()], rows));
    if let Some(note) = &v.url_note {
        out.push(Block::Para(note.clone()));
    }
    out.push(Block::Para(
        "The IdP must reach the base URL over HTTPS with a certificate it trusts. Cloud IdPs \
         refuse the self-signed certificate `scimd serve` makes by default: give scimd a \
         certificate from a public CA (`--tls-cert`/`--tls-key`) or put it behind a \
         TLS-terminating proxy (`--insecure-http`, `--trusted-proxy`)."
            .into(),
    ));
    out.push(Block::Heading(format!(
        "Connect {} to scimd",
        g.idp.display_name()
    )));
    out.push(Block::Steps(fill(g.connect)));
    out.push(Block::Heading("Fields, in the IdP's words".into()));
    out.push(Block::Table(
        vec!["Field".into(), "Value".into()],
        g.fields
            .iter()
            .map(|(f, val)| vec![v.fill(f), v.fill(val)])
            .collect(),
    ));
    out.push(Block::Heading("Provisioning actions to enable".into()));
    out.push(Block::Bullets(fill(g.actions)));
    out.push(Block::Heading("Attribute mapping".into()));
    out.push(Block::Para(v.fill(g.mapping_note)));
    out.push(Block::Table(
        vec![
            "SCIM attribute".into(),
            format!("{} attribute", g.idp.display_name()),
            "Note".into(),
        ],
        ATTRIBUTES
            .iter()
            .zip(g.attributes.iter())
            .map(|((scim, note), theirs)| {
                vec![format!("`{scim}`"), v.fill(theirs), note.to_string()]
            })
            .collect(),
    ));
    out.push(Block::Heading("Test it".into()));
    let mut test = fill(g.test);
    test.push(format!(
        "Before pushing real users, check this server the way {} will: \
         `scimd selftest --profile {}` (on the scimd machine; add `--url` when the server does \
         not listen on the configured address) replays the connection test and a pilot \
         lifecycle, prints PASS or FAIL per step and removes what it created.",
        g.idp.display_name(),
        selftest_profile(g.idp)
    ));
    test.push(format!(
        "After the first push: `scimd integration show {id}` counts users and groups; \
         `scimd audit {id}` lists every change and every refused request with its reason.",
        id = v.integration_id
    ));
    out.push(Block::Steps(test));
    out.push(Block::Heading("Traps".into()));
    out.push(Block::Bullets(fill(g.traps)));
    out.push(Block::Heading("Deprovisioning".into()));
    out.push(Block::Para(v.fill(g.on_remove)));
    out.extend(deprovisioning(v));
    out
}

fn deprovisioning(v: &Values) -> Vec<Block> {
    let inactive = "`active: false` keeps the user, marked inactive (audited \
        `ACCOUNT_SCIM_USER_DEACTIVATED`): not entitled, so local apps stop admitting them; \
        `active: true` brings them back.";
    let deactivate = format!(
        "DELETE with delete mode `deactivate`: scimd answers 204 and keeps the record, \
         deprovisioned. SCIM no longer sees it (404, absent from lists) and its group \
         memberships end; the audit trail stays. A later create with the same userName or \
         externalId revives it with the same id. `scimd users purge {} --deprovisioned-before \
         30d --yes` removes such records for good.",
        v.integration_id
    );
    let delete = "DELETE with delete mode `delete`: the user and its memberships are removed \
        for good (the audit trail stays)."
        .to_string();
    match v.deprovision {
        Deprovision::Deactivate => vec![Block::Bullets(vec![
            inactive.into(),
            format!("This integration's delete mode is `deactivate`. {deactivate}"),
            format!(
                "To remove users on DELETE instead: `scimd integration set {} --delete-mode delete`.",
                v.integration_id
            ),
        ])],
        Deprovision::Delete => vec![Block::Bullets(vec![
            inactive.into(),
            format!("This integration's delete mode is `delete`. {delete}"),
            format!(
                "To keep deleted users' records instead: `scimd integration set {} --delete-mode deactivate`.",
                v.integration_id
            ),
        ])],
        Deprovision::Either => vec![Block::Bullets(vec![
            inactive.into(),
            deactivate,
            delete,
            format!(
                "See the mode with `scimd integration show {id}` (`delete-mode`, default \
                 `deactivate`); change it with `scimd integration set {id} --delete-mode \
                 deactivate|delete`.",
                id = v.integration_id
            ),
        ])],
    }
}

fn text(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        match b {
            Block::Title(t) => {
                out.push_str(t);
                out.push('\n');
                out.push_str(&"=".repeat(t.chars().count()));
                out.push('\n');
            }
            Block::Heading(h) => {
                out.push_str(h);
                out.push('\n');
                out.push_str(&"-".repeat(h.chars().count()));
                out.push('\n');
            }
            Block::Para(p) => {
                out.push_str(p);
                out.push('\n');
            }
            Block::Steps(items) => {
                for (n, s) in items.iter().enumerate() {
                    out.push_str(&format!("{:>2}. {s}\n", n + 1));
                }
            }
            Block::Bullets(items) => {
                for s in items {
                    out.push_str(&format!("  - {s}\n"));
                }
            }
            Block::Table(head, rows) => {
                let widths: Vec<usize> = (0..head.len())
                    .map(|i| {
                        std::iter::once(head)
                            .chain(rows)
                            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                let line = |cells: &[String]| {
                    let last = cells.len().saturating_sub(1);
                    let mut s = String::from("  ");
                    for (i, c) in cells.iter().enumerate() {
                        if i == last {
                            s.push_str(c);
                        } else {
                            s.push_str(c);
                            s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
                        }
                    }
                    s.truncate(s.trim_end().len());
                    s.push('\n');
                    s
                };
                out.push_str(&line(head));
                for r in rows {
                    out.push_str(&line(r));
                }
            }
        }
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn markdown(blocks: &[Block]) -> String {
    let cell = |c: &str| c.replace('|', "\\|");
    let mut out = String::from(
        "<!-- Generated by `scimd integration guide --template IDP --format markdown` \
         (src/guide/); do not edit: change the source and regenerate. -->\n\n",
    );
    for b in blocks {
        match b {
            Block::Title(t) => out.push_str(&format!("# {t}\n")),
            Block::Heading(h) => out.push_str(&format!("## {h}\n")),
            Block::Para(p) => out.push_str(&format!("{p}\n")),
            Block::Steps(items) => {
                for (n, s) in items.iter().enumerate() {
                    out.push_str(&format!("{}. {s}\n", n + 1));
                }
            }
            Block::Bullets(items) => {
                for s in items {
                    out.push_str(&format!("- {s}\n"));
                }
            }
            Block::Table(head, rows) => {
                let line = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
                    format!("| {} |\n", cells.join(" | "))
                };
                out.push_str(&line(head));
                out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
                for r in rows {
                    out.push_str(&line(r));
                }
            }
        }
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Where the committed doc of `idp` lives, relative to the repository root.
pub fn doc_path(idp: Idp) -> String {
    format!("docs/idp/{}.md", idp.as_str())
}

/// The committed doc of `idp`: the Markdown guide with placeholders.
pub fn doc(idp: Idp) -> String {
    render(idp, &Values::template(), Format::Markdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            integration_id: "int_abc".into(),
            public_url: "https://scim.example.com/".into(),
            deprovision: Deprovision::Deactivate,
            url_note: None,
        }
    }

    #[test]
    fn every_idp_has_a_guide_with_every_mapped_attribute_row() {
        for idp in Idp::ALL {
            let g = guide_for(idp);
            assert_eq!(g.idp, idp);
            let out = render(idp, &values(), Format::Markdown);
            for (scim, _) in ATTRIBUTES {
                let row = format!("| `{}` | ", scim.replace('|', "\\|"));
                assert!(out.contains(&row), "{idp:?} guide lacks the row {scim}");
            }
            for theirs in g.attributes {
                assert!(!theirs.trim().is_empty(), "{idp:?} has an empty mapping");
            }
        }
    }

    #[test]
    fn guide_carries_the_base_url_and_integration_id() {
        for idp in Idp::ALL {
            for format in [Format::Text, Format::Markdown] {
                let out = render(idp, &values(), format);
                assert!(
                    out.contains("https://scim.example.com/scim/int_abc"),
                    "{idp:?} {format:?}"
                );
                assert!(out.contains("scimd token rotate int_abc"), "{idp:?}");
                assert!(!out.contains("{base}") && !out.contains("{id}") && !out.contains("{url}"));
            }
        }
    }

    #[test]
    fn guide_never_prints_a_secret() {
        for idp in Idp::ALL {
            let out = render(idp, &values(), Format::Text);
            assert!(
                !out.contains("scimd_"),
                "{idp:?} prints something token-shaped"
            );
        }
    }

    #[test]
    fn guide_says_each_idps_traps_plainly() {
        let okta = render(Idp::Okta, &values(), Format::Text);
        assert!(okta.contains("Suspending a user"));
        assert!(okta.contains("Push Groups"));
        assert!(okta.contains("case-insensitively"));
        let entra = render(Idp::Entra, &values(), Format::Text);
        assert!(entra.contains("40 minutes"));
        assert!(entra.contains("Provision on demand"));
        assert!(entra.contains("Tenant URL"));
        assert!(entra.contains("Secret Token"));
    }

    #[test]
    fn deprovisioning_follows_the_delete_mode() {
        let mut v = values();
        let keep = render(Idp::Generic, &v, Format::Text);
        assert!(keep.contains("delete mode is `deactivate`"));
        v.deprovision = Deprovision::Delete;
        let remove = render(Idp::Generic, &v, Format::Text);
        assert!(remove.contains("delete mode is `delete`"));
        let doc = doc(Idp::Generic);
        assert!(doc.contains("--delete-mode deactivate|delete"));
    }

    #[test]
    fn text_tables_align_their_columns() {
        let out = render(Idp::Entra, &values(), Format::Text);
        let row = |first: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("  `{first}`")))
                .unwrap_or_else(|| panic!("no row {first}"))
                .to_string()
        };
        // Where the second cell starts: after the first cell and its padding.
        let second = |l: &str| {
            let end = l[2..].find("`  ").expect("a padded first cell") + 3;
            end + l[end..].len() - l[end..].trim_start().len()
        };
        assert_eq!(second(&row("userName")), second(&row("title")));
        assert_eq!(second(&row("userName")), second(&row("active")));
    }

    #[test]
    fn mismatch_speaks_only_when_configured_and_detected_differ() {
        assert_eq!(mismatch(Idp::Okta, None), None);
        assert_eq!(mismatch(Idp::Okta, Some(Idp::Okta)), None);
        assert_eq!(mismatch(Idp::Generic, Some(Idp::Entra)), None);
        assert_eq!(mismatch(Idp::Okta, Some(Idp::Generic)), None);
        let said = mismatch(Idp::Okta, Some(Idp::Entra)).expect("a mismatch");
        assert!(said.contains("Okta") && said.contains("Microsoft Entra ID"));
        assert!(said.contains("--idp entra"));
    }

    /// The committed docs are the generator's output. With
    /// `SCIMD_UPDATE_DOCS=1` this test writes them instead.
    #[test]
    fn committed_idp_docs_match_the_generator() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let update = std::env::var("SCIMD_UPDATE_DOCS").is_ok_and(|v| v == "1");
        let mut stale = Vec::new();
        for idp in Idp::ALL {
            let path = root.join(doc_path(idp));
            let want = doc(idp);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &want).unwrap();
                continue;
            }
            if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                stale.push(doc_path(idp));
            }
        }
        assert!(
            stale.is_empty(),
            "{} differ from the guide generator (src/guide/); regenerate them with \
             `SCIMD_UPDATE_DOCS=1 cargo test --lib committed_idp_docs_match_the_generator` \
             (or `scimd integration guide --template IDP --format markdown > docs/idp/IDP.md`) \
             and commit the result",
            stale.join(", ")
        );
    }
}
