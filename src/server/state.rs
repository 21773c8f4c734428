//! What every request handler can see: the domain and the server's settings.

use crate::domain::Domain;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// Most connections from one client address (an IPv6 /64); trusted
    /// proxies are exempt.
    pub max_connections_per_ip: usize,
    pub default_page_size: i64,
    pub max_page_size: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_connections: 512,
            max_connections_per_ip: 64,
            default_page_size: 100,
            max_page_size: 1000,
        }
    }
}

pub struct AppState {
    pub domain: Domain,
    pub limits: Limits,
    /// Base such as `https://scim.example.com`; None: from the request's Host.
    pub public_url: Option<String>,
    /// `https` or `http`, for URLs built from the Host header.
    pub scheme: &'static str,
    /// `serve --trusted-proxy`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<super::netaddr::Cidr>,
    /// Rate limits and the failed-authentication throttle.
    pub guard: super::admission::guard::Guard,
    /// Refused requests counted in memory until their audit rows are written.
    pub rejections: super::rejections::Rejections,
    /// Push status and request log gathered until their next batch.
    pub pushes: super::pushes::Pushes,
    /// Responses that carry group members are built one at a time: a
    /// 100 000-member group is tens of MB while it is rendered, and a few
    /// clients asking at once (and never reading) must not multiply that.
    pub member_renders: tokio::sync::Semaphore,
    /// `--metrics-token-file`: /metrics on this listener needs it; None: 404.
    pub metrics_token: Option<super::observe::MetricsToken>,
}

impl AppState {
    /// Waits for the right to build a response with group members, when
    /// `needed`; the permit is held until the body is bytes.
    pub async fn member_render(&self, needed: bool) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if needed {
            self.member_renders.acquire().await.ok()
        } else {
            None
        }
    }
}
