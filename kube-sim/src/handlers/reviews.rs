//! The create-only review APIs: TokenReview, SelfSubjectReview, (Self|Local)SubjectAccessReview
//! and SelfSubjectRulesReview. Nothing is stored; the answer is the object with its status.

use std::collections::BTreeMap;

use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::write::check_type_meta;
use crate::auth::{self, UserInfo};
use crate::rbac::{self, Attributes};
use crate::respond::{self, Body};
use crate::status::{ApiError, ApiResult};

pub async fn handle(ctx: Ctx) -> ApiResult<Response<Body>> {
    let mut obj = respond::decode(ctx.content_type(), &ctx.body)?;
    check_type_meta(&ctx, &obj)?;
    obj["apiVersion"] = json!(ctx.api_version());
    obj["kind"] = json!(ctx.def.kind);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({"creationTimestamp": null});
    }
    let status = match ctx.def.kind.as_str() {
        "TokenReview" => token_review(&ctx, &obj).await,
        "SelfSubjectReview" => json!({"userInfo": ctx.user.to_json()}),
        "SelfSubjectAccessReview" => access_review(&ctx, &ctx.user, obj.get("spec"), None)?,
        "SubjectAccessReview" => {
            let user = subject_of(obj.get("spec"));
            access_review(&ctx, &user, obj.get("spec"), None)?
        }
        "LocalSubjectAccessReview" => {
            let user = subject_of(obj.get("spec"));
            access_review(
                &ctx,
                &user,
                obj.get("spec"),
                Some(ctx.info.namespace.as_str()),
            )?
        }
        "SelfSubjectRulesReview" => rules_review(
            &ctx,
            obj.pointer("/spec/namespace")
                .and_then(Value::as_str)
                .unwrap_or(""),
        ),
        _ => return Err(ApiError::no_such_resource()),
    };
    obj["status"] = status;
    Ok(respond::json(201, &obj))
}

async fn token_review(ctx: &Ctx, obj: &Value) -> Value {
    let token = obj
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let audiences: Option<Vec<String>> = obj
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty());
    match auth::authenticate_token(&ctx.cluster, token, audiences.as_deref()).await {
        Some((user, auds)) => {
            json!({"authenticated": true, "user": user.authenticated().to_json(), "audiences": auds})
        }
        None => {
            json!({"authenticated": false, "user": {}, "error": "[invalid bearer token, token lookup failed]"})
        }
    }
}

fn subject_of(spec: Option<&Value>) -> UserInfo {
    let spec = spec.cloned().unwrap_or(json!({}));
    let mut extra = BTreeMap::new();
    if let Some(m) = spec.get("extra").and_then(Value::as_object) {
        for (k, v) in m {
            extra.insert(
                k.clone(),
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            );
        }
    }
    UserInfo {
        username: spec
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        groups: spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        extra,
    }
}

fn access_review(
    ctx: &Ctx,
    user: &UserInfo,
    spec: Option<&Value>,
    force_ns: Option<&str>,
) -> ApiResult<Value> {
    let spec = spec.cloned().unwrap_or(json!({}));
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (decision, _) = if spec.get("resourceAttributes").is_some() {
        let ns = force_ns
            .map(str::to_string)
            .unwrap_or_else(|| s("/resourceAttributes/namespace"));
        if force_ns.is_some()
            && !s("/resourceAttributes/namespace").is_empty()
            && s("/resourceAttributes/namespace") != ns
        {
            return Err(ApiError::bad_request(
                "spec.resourceAttributes.namespace must match the namespace of the request",
            ));
        }
        let (verb, group, resource, sub, name) = (
            s("/resourceAttributes/verb"),
            s("/resourceAttributes/group"),
            s("/resourceAttributes/resource"),
            s("/resourceAttributes/subresource"),
            s("/resourceAttributes/name"),
        );
        let a = Attributes {
            user,
            verb: &verb,
            namespace: &ns,
            group: &group,
            resource: &resource,
            subresource: &sub,
            name: &name,
            is_resource: true,
            path: "",
        };
        (rbac::authorize(&ctx.cluster, &a), ())
    } else if spec.get("nonResourceAttributes").is_some() {
        let (verb, path) = (
            s("/nonResourceAttributes/verb"),
            s("/nonResourceAttributes/path"),
        );
        let a = Attributes {
            user,
            verb: &verb,
            namespace: "",
            group: "",
            resource: "",
            subresource: "",
            name: "",
            is_resource: false,
            path: &path,
        };
        (rbac::authorize(&ctx.cluster, &a), ())
    } else {
        return Err(ApiError::bad_request(
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    Ok(status)
}

fn rules_review(ctx: &Ctx, ns: &str) -> Value {
    let mut resource_rules = vec![];
    let mut non_resource_rules = vec![];
    if ctx.user.is_superuser() {
        resource_rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        non_resource_rules.push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    for (_, rules) in rbac::applicable_rules(&ctx.cluster, &ctx.user, ns) {
        for r in rules {
            if r.get("nonResourceURLs").is_some() {
                non_resource_rules.push(
                    json!({"verbs": r.get("verbs"), "nonResourceURLs": r.get("nonResourceURLs")}),
                );
            } else {
                let mut rr = json!({"verbs": r.get("verbs"), "apiGroups": r.get("apiGroups"), "resources": r.get("resources")});
                if let Some(n) = r.get("resourceNames") {
                    rr["resourceNames"] = n.clone();
                }
                resource_rules.push(rr);
            }
        }
    }
    json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false})
}
