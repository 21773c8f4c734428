//! The last step of every response: gzip when the client accepts it and the
//! body is worth compressing (Okta sends `Accept-Encoding: gzip` and reads
//! large pages), and an empty body for `HEAD` with the `Content-Length` the
//! `GET` would have had. HTTP/2 resets a HEAD stream that carries data, so
//! the body is dropped here rather than left to the protocol layer.

use super::http::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use hyper::{HeaderMap, Response};
use std::io::Write;

/// Smaller bodies go out as they are: gzip would save little and cost a
/// round of CPU on every small response.
pub const MIN_GZIP_BYTES: usize = 4096;
/// Bodies above this are compressed on a blocking thread, off the executor.
const INLINE_GZIP_MAX: usize = 256 * 1024;

/// Does `Accept-Encoding` allow gzip? `gzip` or `*` with a non-zero q-value
/// (RFC 9110 §12.5.3); an explicit `gzip;q=0` wins over `*`.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return !q_zero;
            }
            if coding == "*" {
                star = !q_zero;
            }
        }
    }
    star
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes).ok()?;
    enc.finish().ok()
}

/// Applies gzip (when `gzip_ok`) and HEAD semantics (when `head`).
pub async fn finish(resp: Response<Body>, gzip_ok: bool, head: bool) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    // A `Full` body is already in memory: collecting it cannot fail or wait.
    let mut bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let compressible = gzip_ok
        && bytes.len() >= MIN_GZIP_BYTES
        && !parts.headers.contains_key(CONTENT_ENCODING)
        && !matches!(parts.status.as_u16(), 204 | 304);
    if compressible {
        let packed = if bytes.len() > INLINE_GZIP_MAX {
            let input = bytes.clone();
            tokio::task::spawn_blocking(move || gzip(&input))
                .await
                .ok()
                .flatten()
        } else {
            gzip(&bytes)
        };
        if let Some(packed) = packed {
            bytes = Bytes::from(packed);
            parts
                .headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    if gzip_ok || compressible {
        parts
            .headers
            .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if head {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        bytes = Bytes::new();
    }
    Response::from_parts(parts, Full::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn headers(accept: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(ACCEPT_ENCODING, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn gzip_is_accepted_when_listed_without_q_zero() {
        assert!(accepts_gzip(&headers(&["gzip"])));
        assert!(accepts_gzip(&headers(&["deflate, GZIP;q=0.5"])));
        assert!(accepts_gzip(&headers(&["br", "gzip"])));
        assert!(accepts_gzip(&headers(&["*"])));
    }

    #[test]
    fn gzip_is_refused_when_absent_or_q_zero() {
        assert!(!accepts_gzip(&headers(&[])));
        assert!(!accepts_gzip(&headers(&["identity"])));
        assert!(!accepts_gzip(&headers(&["gzip;q=0"])));
        assert!(!accepts_gzip(&headers(&["*, gzip;q=0"])));
        assert!(!accepts_gzip(&headers(&["*;q=0"])));
    }

    fn run(resp: Response<Body>, gzip_ok: bool, head: bool) -> (Response<()>, Bytes) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (parts, body) = finish(resp, gzip_ok, head).await.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            (Response::from_parts(parts, ()), bytes)
        })
    }

    #[test]
    fn large_bodies_are_gzipped_and_decompress_to_the_original() {
        let original = "x".repeat(MIN_GZIP_BYTES * 3);
        let (resp, bytes) = run(
            Response::new(Full::new(Bytes::from(original.clone()))),
            true,
            false,
        );
        assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[VARY], "Accept-Encoding");
        assert!(bytes.len() < original.len());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, original);
    }

    #[test]
    fn small_bodies_and_clients_without_gzip_get_plain_bytes() {
        let (resp, bytes) = run(Response::new(Full::new(Bytes::from("{}"))), true, false);
        assert!(resp.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(bytes, "{}");
        let big = "y".repeat(MIN_GZIP_BYTES * 2);
        let (resp, bytes) = run(
            Response::new(Full::new(Bytes::from(big.clone()))),
            false,
            false,
        );
        assert!(resp.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(bytes, big);
    }

    #[test]
    fn head_keeps_the_length_and_drops_the_body() {
        let (resp, bytes) = run(Response::new(Full::new(Bytes::from("hello"))), false, true);
        assert_eq!(resp.headers()[CONTENT_LENGTH], "5");
        assert!(bytes.is_empty());
    }
}
