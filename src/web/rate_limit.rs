//! Rate limits on what an anonymous or hostile client can make the portal do: sign-in and
//! its callback, the token endpoint kubectl refreshes at, and every form post. Each is a
//! token bucket per client address (`server.trusted_proxies` decides whose
//! `X-Forwarded-For` is believed); form posts are also limited per signed-in account, from
//! whatever address. A refused request is answered 429 with `Retry-After` and changes
//! nothing; `tenantry_rate_limited_total` counts refusals by group.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use super::AppState;
use crate::config::{Limit, RateLimitsConfig};
use crate::error::AppError;

/// After this many checks idle buckets are dropped, so memory follows the clients seen
/// lately, not every address ever seen.
const SWEEP_EVERY: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    SignIn,
    Token,
    Forms,
}

impl Group {
    pub fn label(self) -> &'static str {
        match self {
            Group::SignIn => "sign_in",
            Group::Token => "token",
            Group::Forms => "forms",
        }
    }

    /// The group a request is counted in, if any: reading pages is not limited.
    fn of(method: &Method, path: &str) -> Option<Group> {
        let reads = matches!(*method, Method::GET | Method::HEAD);
        match path {
            "/login" | "/auth/callback" if reads => Some(Group::SignIn),
            "/oidc/token" if *method == Method::POST => Some(Group::Token),
            _ if !reads && *method != Method::OPTIONS => Some(Group::Forms),
            _ => None,
        }
    }
}

pub struct RateLimits {
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    token: DefaultKeyedRateLimiter<IpAddr>,
    forms: DefaultKeyedRateLimiter<IpAddr>,
    forms_per_account: DefaultKeyedRateLimiter<String>,
    trusted_proxies: Vec<IpNet>,
    checks: AtomicU64,
}

impl RateLimits {
    /// `None` when `rate_limits.enabled` is false.
    pub fn new(config: &RateLimitsConfig, trusted_proxies: &[IpNet]) -> Option<RateLimits> {
        config.enabled.then(|| RateLimits {
            sign_in: RateLimiter::keyed(quota(config.sign_in)),
            token: RateLimiter::keyed(quota(config.token)),
            forms: RateLimiter::keyed(quota(config.forms)),
            forms_per_account: RateLimiter::keyed(quota(config.forms_per_account)),
            trusted_proxies: trusted_proxies.to_vec(),
            checks: AtomicU64::new(0),
        })
    }

    /// Takes one request of `group` from `client`'s bucket (and `account`'s, for forms);
    /// `Err` holds how long until the next would be accepted.
    pub fn check(
        &self,
        group: Group,
        client: IpAddr,
        account: Option<&str>,
    ) -> Result<(), Duration> {
        self.sweep();
        let clock = DefaultClock::default();
        let by_address = match group {
            Group::SignIn => &self.sign_in,
            Group::Token => &self.token,
            Group::Forms => &self.forms,
        };
        by_address
            .check_key(&client)
            .map_err(|until| until.wait_time_from(clock.now()))?;
        if let (Group::Forms, Some(account)) = (group, account) {
            self.forms_per_account
                .check_key(&account.to_lowercase())
                .map_err(|until| until.wait_time_from(clock.now()))?;
        }
        Ok(())
    }

    /// The client's address: the peer itself, unless the peer is a trusted proxy, in which
    /// case the right-most `X-Forwarded-For` entry that is not a trusted proxy. Entries to its
    /// left were written by the client and prove nothing.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|hop| !self.trusted(**hop))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }

    fn trusted(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&addr))
    }

    fn sweep(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limiter in [&self.sign_in, &self.token, &self.forms] {
                limiter.retain_recent();
            }
            self.forms_per_account.retain_recent();
        }
    }
}

fn quota(limit: Limit) -> Quota {
    let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// The middleware: inside the session layer (to know the account) and the error renderer
/// (so the refusal is the page or JSON every other error is).
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limits) = state.rate_limits.as_deref() else {
        return next.run(request).await;
    };
    let Some(group) = Group::of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let client = limits.client_addr(peer, request.headers());
    let account = match (group, request.extensions().get::<tower_sessions::Session>()) {
        // The handler reads the same session next (it is loaded once per request); if the
        // database does not answer, the request is over here, with the 503 naming it.
        (Group::Forms, Some(session)) => match crate::auth::session::load(session).await {
            Ok(data) => data.user.map(|user| user.username),
            Err(e) => return e.into_response(),
        },
        _ => None,
    };
    let Err(wait) = limits.check(group, client, account.as_deref()) else {
        return next.run(request).await;
    };
    state
        .metrics
        .rate_limited
        .get_or_create(&crate::app::metrics::GroupLabel {
            group: group.label().to_owned(),
        })
        .inc();
    let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
    tracing::warn!(
        group = group.label(),
        client = %client,
        account = account.as_deref().unwrap_or(""),
        retry_after,
        "rate limited"
    );
    if group == Group::Token {
        let mut response = super::issuer::oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            &format!("too many token requests from this address; retry after {retry_after} s"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return response;
    }
    AppError::TooManyRequests {
        what: group.label(),
        retry_after,
    }
    .into_response()
}
