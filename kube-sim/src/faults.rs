//! Fault injection for reliability tests: `POST /sim/faults` adds a rule, `GET` lists them,
//! `DELETE` clears them; only `system:masters` may call it. A rule makes the next `count`
//! matching requests fail with `status`, wait `delay_ms`, or lose their connection (`drop`).
//! A rule with verb `run` on `jobs` makes the next matching Jobs end Failed.

use std::sync::{Mutex, PoisonError};

use http::{Method, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::request::RequestInfo;
use crate::respond::{self, Body};
use crate::status::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default = "star")]
    pub verb: String,
    #[serde(default = "star")]
    pub resource: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// How many matching requests fail; absent means every one until cleared.
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub drop: bool,
    #[serde(default = "default_message")]
    pub message: String,
}

fn star() -> String {
    "*".into()
}

fn default_message() -> String {
    "injected fault".into()
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
}

impl Faults {
    fn take_where(&self, pred: impl Fn(&Rule) -> bool) -> Option<Rule> {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let i = rules.iter().position(pred)?;
        let hit = rules[i].clone();
        if let Some(c) = rules[i].count.as_mut() {
            *c = c.saturating_sub(1);
            if *c == 0 {
                rules.remove(i);
            }
        }
        Some(hit)
    }

    /// The rule the request trips, if any (its count is consumed).
    pub fn take(&self, info: &RequestInfo) -> Option<Rule> {
        if !info.is_resource {
            return None;
        }
        let resource = if info.subresource.is_empty() {
            info.resource.clone()
        } else {
            format!("{}/{}", info.resource, info.subresource)
        };
        self.take_where(|r| {
            r.verb != "run"
                && (r.verb == "*" || r.verb == info.verb)
                && (r.resource == "*" || r.resource == info.resource || r.resource == resource)
                && r.namespace.as_deref().is_none_or(|n| n == info.namespace)
                && r.name.as_deref().is_none_or(|n| n == info.name)
        })
    }

    /// Whether a Job should fail, and why (a `run` rule on jobs).
    pub fn take_job_failure(&self, ns: &str, name: &str) -> Option<String> {
        self.take_where(|r| {
            r.verb == "run"
                && (r.resource == "jobs" || r.resource == "*")
                && r.namespace.as_deref().is_none_or(|n| n == ns)
                && r.name.as_deref().is_none_or(|n| n == name)
        })
        .map(|r| {
            if r.message == "injected fault" {
                "BackoffLimitExceeded".into()
            } else {
                r.message
            }
        })
    }

    pub fn list(&self) -> Vec<Rule> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn clear(&self) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub fn add(&self, r: Rule) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r);
    }
}

pub fn error(code: u16, message: &str) -> ApiError {
    let reason = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    };
    ApiError::new(code, reason, message)
}

pub fn handle(
    cluster: &Cluster,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    if path != "/sim/faults" {
        return Err(ApiError::no_such_resource());
    }
    match *method {
        Method::GET => Ok(respond::json(
            200,
            &json!({"faults": cluster.faults.list()}),
        )),
        Method::DELETE => {
            cluster.faults.clear();
            Ok(respond::json(200, &json!({"faults": []})))
        }
        Method::POST => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("fault rule: {e}")))?;
            let rules: Vec<Value> = if v.is_array() {
                v.as_array().unwrap().clone()
            } else {
                vec![v]
            };
            for r in rules {
                let rule: Rule = serde_json::from_value(r)
                    .map_err(|e| ApiError::bad_request(format!("fault rule: {e}")))?;
                if rule.status.is_none() && rule.delay_ms == 0 && !rule.drop && rule.verb != "run" {
                    return Err(ApiError::bad_request(
                        "fault rule: set at least one of status, delay_ms or drop",
                    ));
                }
                if let Some(s) = rule.status
                    && !(100..=599).contains(&s)
                {
                    return Err(ApiError::bad_request(
                        "fault rule: status must be an HTTP status code",
                    ));
                }
                cluster.faults.add(rule);
            }
            Ok(respond::json(
                201,
                &json!({"faults": cluster.faults.list()}),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
