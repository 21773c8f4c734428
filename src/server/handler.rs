//! One request from start to finish: find the integration in the path,
//! authenticate, route, dispatch to the endpoint's handler, and turn any
//! error into a SCIM error response. Every response carries `X-Request-Id`,
//! is counted in the metrics and logged in one line (`access_log`).
//! `/healthz` and `/metrics` are answered before the integration split.

use super::ctx::Ctx;
use super::http::{self, Body};
use super::query::Query;
use super::router::{self, Endpoint, Kind};
use super::state::AppState;
use super::users::UserView;
use super::{access_log, admission, bulk, discovery, encoding, netaddr, observe, pushes};
use super::{resources, search};
use crate::metrics;
use crate::scim::error::ScimError;
use crate::store::groups::StoredGroup;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST};
use hyper::{Method, Request, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let request_id = crate::secret::new_request_id();
    let method = req.method().clone();
    let user_agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let idp = access_log::idp(user_agent.as_deref());
    // Kept for the push status and request log (`pushes`).
    let logging = state.pushes.logging();
    let query = req.uri().query().map(str::to_string);
    let request_headers = if logging {
        req.headers().clone()
    } else {
        hyper::HeaderMap::new()
    };
    // A base URL pasted with a trailing slash gives `/scim/<id>//Users`.
    let path = router::squeeze_slashes(req.uri().path());
    let gzip_ok = encoding::accepts_gzip(req.headers());
    let client = netaddr::client_address(
        peer.ip(),
        req.headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
        &state.trusted_proxies,
    );
    // An error answered before the body was read leaves that body on an
    // HTTP/1 connection; say we close it rather than let the client's next
    // request on it fail.
    let unread_body_closes = req.version() <= hyper::Version::HTTP_11
        && (req.headers().contains_key(hyper::header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    // Router names are static; an unroutable request is one `unknown` label.
    let mut route = "unknown";
    let quirk_watch = logging.then(|| crate::request_quirks::Watch::new(&request_id));
    let mut captured = pushes::Capture::default();
    let result = match observe::route(&method, &path) {
        Some(probe) => {
            route = probe.name();
            observe::answer(&state, req.headers(), probe).await
        }
        None => {
            let dispatched = dispatch(state.clone(), req, &path, &request_id, client, &mut route);
            let (result, c) = pushes::capture(logging, dispatched).await;
            captured = c;
            result
        }
    };
    let quirks = quirk_watch.map_or_else(Vec::new, |w| w.finish());
    let integration = router::split_integration(&path).map(|(id, _)| id);
    let mut failure = None;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            if e.status >= 500 {
                tracing::error!(%request_id, %method, %path, %peer, detail = %e.detail, "request failed");
            }
            let what = format!("{method} {path}");
            admission::audit_rejection(&state, &e, integration, client, &request_id, &what);
            let resp = http::error_response(&e);
            failure = Some(e);
            resp
        }
    };
    if unread_body_closes && resp.status().as_u16() >= 400 {
        resp.headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let mut response_body = None;
    // A successful read's answer is what the store holds and can be asked
    // again; keeping it would cost every GET a copy and a redaction pass.
    // What the IdP sent, and what scimd answered to a change or a refusal,
    // is what an admin debugging an IdP needs.
    let read_ok = matches!(method, Method::GET | Method::HEAD) && resp.status().is_success();
    if logging && captured.authenticated && !read_ok {
        let (r, body) = http::response_bytes(resp).await;
        resp = r;
        response_body = Some(body);
    }
    let resp = encoding::finish(resp, gzip_ok, method == Method::HEAD).await;
    if let (Some(integration), true) = (integration, captured.authenticated) {
        state.pushes.record(pushes::Finished {
            integration,
            request_id: &request_id,
            method: &method,
            path: &path,
            query: query.as_deref(),
            route,
            status: resp.status().as_u16(),
            latency: started.elapsed(),
            user_agent: user_agent.as_deref(),
            headers: request_headers,
            failure: failure.as_ref(),
            quirks,
            request_body: captured.request_body,
            response_body,
        });
    }
    access_log::record(&access_log::Line {
        request_id: &request_id,
        integration,
        method: metrics::method_label(&method),
        route,
        status: resp.status().as_u16(),
        latency: started.elapsed(),
        idp,
    });
    resp
}

fn base_url(state: &AppState, req: &Request<Incoming>, integration_id: &str) -> String {
    let origin = match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = req
                .uri()
                .authority()
                .map(|a| a.as_str().to_string())
                .or_else(|| {
                    req.headers()
                        .get(HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "localhost".into());
            format!("{}://{host}", state.scheme)
        }
    };
    format!("{origin}/scim/{integration_id}")
}

async fn dispatch(
    state: Arc<AppState>,
    req: Request<Incoming>,
    path: &str,
    request_id: &str,
    client: IpAddr,
    route: &mut &'static str,
) -> Result<Response<Body>, ScimError> {
    let Some((integration_id, rest)) = router::split_integration(path) else {
        return Err(ScimError::not_found(format!(
            "'{path}' is not a SCIM path; endpoints live under /scim/<integration-id>/"
        )));
    };
    // HEAD is GET without the body, which `encoding::finish` drops.
    let method = match req.method() {
        &Method::HEAD => &Method::GET,
        m => m,
    };
    // Named for the log and metrics even when admission refuses the
    // request; a routing error is still only reported after authentication.
    let routed = router::route(method, rest);
    if let Ok(endpoint) = &routed {
        *route = endpoint.name();
    }
    // Held until the response is built: the request's place in its
    // integration's fair share.
    let _ticket = admission::admit(&state, req.headers(), integration_id, client).await?;
    pushes::authenticated();
    let endpoint = routed?;
    let ctx = Ctx {
        base_url: base_url(&state, &req, integration_id),
        integration_id: integration_id.to_string(),
        request_id: request_id.to_string(),
        query: Query::parse(req.uri().query())?,
        state,
    };
    match endpoint {
        Endpoint::ServiceProviderConfig => Ok(discovery::service_provider_config(&ctx)),
        Endpoint::ResourceTypes => Ok(discovery::resource_types(&ctx)),
        Endpoint::ResourceType(name) => discovery::resource_type(&ctx, &name),
        Endpoint::Schemas => Ok(discovery::schemas(&ctx)),
        Endpoint::Schema(urn) => discovery::schema(&ctx, &urn),
        Endpoint::List(kind) => search::list(&ctx, kind).await,
        Endpoint::Get(Kind::Users, id) => resources::get::<UserView>(&ctx, &req, &id).await,
        Endpoint::Get(Kind::Groups, id) => resources::get::<StoredGroup>(&ctx, &req, &id).await,
        Endpoint::Create(Kind::Users) => resources::create::<UserView>(&ctx, req).await,
        Endpoint::Create(Kind::Groups) => resources::create::<StoredGroup>(&ctx, req).await,
        Endpoint::Replace(Kind::Users, id) => resources::replace::<UserView>(&ctx, req, &id).await,
        Endpoint::Replace(Kind::Groups, id) => {
            resources::replace::<StoredGroup>(&ctx, req, &id).await
        }
        Endpoint::Patch(Kind::Users, id) => resources::patch::<UserView>(&ctx, req, &id).await,
        Endpoint::Patch(Kind::Groups, id) => resources::patch::<StoredGroup>(&ctx, req, &id).await,
        Endpoint::Delete(Kind::Users, id) => resources::delete::<UserView>(&ctx, &req, &id).await,
        Endpoint::Delete(Kind::Groups, id) => {
            resources::delete::<StoredGroup>(&ctx, &req, &id).await
        }
        Endpoint::Bulk => bulk::handle(&ctx, req).await,
        Endpoint::Search(kind) => search::post(&ctx, req, Some(kind)).await,
        Endpoint::SearchAll => search::post(&ctx, req, None).await,
        Endpoint::OpenApi => Ok(discovery::openapi(&ctx)),
    }
}
