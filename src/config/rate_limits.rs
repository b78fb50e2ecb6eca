//! How fast one client may knock: sign-in, the callback, the token endpoint and form posts.

use serde::Deserialize;

/// Per-client budgets, each a token bucket: `burst` requests at once, refilled at
/// `per_minute`. On by default; a refused request gets 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `GET /login` and `GET /auth/callback`, per client address.
    #[serde(default = "default_sign_in")]
    pub sign_in: Limit,
    /// `POST /oidc/token` (kubectl refreshing its token), per client address.
    #[serde(default = "default_token")]
    pub token: Limit,
    /// Every other POST (the portal's forms), per client address.
    #[serde(default = "default_forms")]
    pub forms: Limit,
    /// Every other POST, per signed-in account, from whatever address.
    #[serde(default = "default_forms_per_account")]
    pub forms_per_account: Limit,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            enabled: true,
            sign_in: default_sign_in(),
            token: default_token(),
            forms: default_forms(),
            forms_per_account: default_forms_per_account(),
        }
    }
}

impl RateLimitsConfig {
    /// Each budget with its key, for validation.
    pub fn named(&self) -> [(&'static str, Limit); 4] {
        [
            ("sign_in", self.sign_in),
            ("token", self.token),
            ("forms", self.forms),
            ("forms_per_account", self.forms_per_account),
        ]
    }
}

fn yes() -> bool {
    true
}
fn default_sign_in() -> Limit {
    Limit {
        per_minute: 30,
        burst: 20,
    }
}
fn default_token() -> Limit {
    Limit {
        per_minute: 120,
        burst: 60,
    }
}
fn default_forms() -> Limit {
    Limit {
        per_minute: 120,
        burst: 60,
    }
}
fn default_forms_per_account() -> Limit {
    Limit {
        per_minute: 60,
        burst: 30,
    }
}
