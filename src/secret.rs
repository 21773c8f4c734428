//! Random identifiers and bearer tokens from the OS CSPRNG, and the hashing
//! that lets scimd store a token without storing the secret. Tokens are
//! prefixed `scimd_` so secret scanners can recognise a leaked one.

use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "scimd_";
/// 43 base62 characters carry 256 bits.
const TOKEN_RANDOM_CHARS: usize = 43;
/// How much of a token may be shown in logs and listings.
pub const SHOWN_PREFIX_LEN: usize = 10;

pub fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        Alphanumeric.sample_string(&mut OsRng, TOKEN_RANDOM_CHARS)
    )
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` has the shape scimd issues (`scimd_` + 43 base62
/// characters). Anything else cannot be valid and needs no lookup.
pub fn looks_like_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == TOKEN_RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// The part of a token that is safe to show: never enough to use it.
pub fn shown_prefix(token: &str) -> String {
    token.chars().take(SHOWN_PREFIX_LEN).collect()
}

pub fn new_integration_id() -> String {
    format!(
        "int_{}",
        Alphanumeric.sample_string(&mut OsRng, 16).to_lowercase()
    )
}

/// A random (version 4) UUID, the form IdPs expect for resource ids.
pub fn new_resource_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn new_request_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_look_like_tokens_and_garbage_does_not() {
        assert!(looks_like_token(&new_token()));
        assert!(!looks_like_token("scimd_wrong"));
        assert!(!looks_like_token("Bearer"));
        assert!(!looks_like_token(&format!("scimd_{}", "é".repeat(43))));
    }

    #[test]
    fn token_has_prefix_and_256_bits_of_base62() {
        let t = new_token();
        assert!(t.starts_with("scimd_"));
        assert_eq!(t.len(), 6 + 43);
        assert!(t[6..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, new_token());
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(token_hash("abc").len(), 32);
        assert_eq!(token_hash("abc"), token_hash("abc"));
    }

    #[test]
    fn resource_id_is_uuid_v4_shaped() {
        let id = new_resource_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn integration_id_is_prefixed_lowercase() {
        let id = new_integration_id();
        assert!(id.starts_with("int_"));
        assert_eq!(id, id.to_lowercase());
    }
}
