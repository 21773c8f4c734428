//! What a change did, as one value: which integration, which kind of record,
//! which id, and its state before and after. Every operation of this layer
//! returns one with its outcome, collected inside the transaction that made
//! it. `events` turns each into its change-feed rows (and so its webhook
//! deliveries) in the same transaction.

use crate::scim::patch::MemberOp;
use serde_json::Value;

/// The kind of record a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User,
    Group,
    /// An integration's settings; the id is the integration's.
    Settings,
    /// A group-to-role mapping; the id is the IdP group reference.
    Mapping,
    /// An integration's bearer tokens; the id is the integration's, and no
    /// state is recorded: a token is a secret.
    Token,
}

/// One change: `old` is None for a creation, `new` None for a deletion.
/// An operation that changed nothing (a PUT of what is stored) still
/// reports itself, with `old == new`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub integration: String,
    pub subject: Subject,
    pub id: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// Member operations a group change carried: members live in their own
    /// table, not in `old`/`new`.
    pub members: Vec<MemberOp>,
}

impl Change {
    pub fn new(
        integration: &str,
        subject: Subject,
        id: &str,
        old: Option<Value>,
        new: Option<Value>,
    ) -> Change {
        Change {
            integration: integration.to_string(),
            subject,
            id: id.to_string(),
            old,
            new,
            members: Vec::new(),
        }
    }
}

/// What an operation answers: its typed result and the change it made.
#[derive(Debug)]
pub struct Outcome<T> {
    pub value: T,
    pub change: Change,
}

impl<T> Outcome<T> {
    /// The same change with its value turned into what the response shows
    /// (a user with its groups, a group re-read with its members).
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Outcome<U>, E> {
        Ok(Outcome {
            value: f(self.value)?,
            change: self.change,
        })
    }
}
