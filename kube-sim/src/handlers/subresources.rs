//! Subresources: status, scale, serviceaccounts/token (TokenRequest) and namespaces/finalize.

use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::write::{self, check_type_meta};
use crate::apply::Scope;
use crate::auth::serviceaccount;
use crate::respond::{self, Body};
use crate::status::{ApiError, ApiResult, Cause};
use crate::{merge, store::StoreError};

pub async fn status(ctx: Ctx) -> ApiResult<Response<Body>> {
    match ctx.info.verb.as_str() {
        "get" => super::read::get(&ctx),
        "update" => write::update(&ctx, Scope::Status),
        "patch" => write::patch(&ctx, Scope::Status),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn scale_of(ctx: &Ctx, obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{}={}", k, v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let _ = ctx;
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj.pointer("/metadata/name"),
            "namespace": obj.pointer("/metadata/namespace"),
            "uid": obj.pointer("/metadata/uid"),
            "resourceVersion": obj.pointer("/metadata/resourceVersion"),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

pub async fn scale(ctx: Ctx) -> ApiResult<Response<Body>> {
    let gr = ctx.gr();
    let name = ctx.name().to_string();
    for _ in 0..8 {
        let old = ctx
            .cluster
            .store
            .get(&gr, ctx.ns(), &name)
            .ok_or_else(|| ApiError::not_found(&gr, &name))?;
        let current = scale_of(&ctx, &old);
        let wanted = match ctx.info.verb.as_str() {
            "get" => return Ok(respond::json(200, &current)),
            "update" => respond::decode(ctx.content_type(), &ctx.body)?,
            "patch" => {
                let patch: Value = respond::decode_yaml(&ctx.body)?;
                let mut s = current.clone();
                match ctx.content_type() {
                    "application/json-patch+json" => {
                        merge::json_patch(&mut s, &patch).map_err(ApiError::bad_request)?
                    }
                    "application/strategic-merge-patch+json" => {
                        merge::strategic_merge_patch(&mut s, &patch)
                            .map_err(ApiError::bad_request)?
                    }
                    _ => merge::json_merge_patch(&mut s, &patch),
                }
                s
            }
            _ => return Err(ApiError::method_not_allowed()),
        };
        let Some(replicas) = wanted.pointer("/spec/replicas").and_then(Value::as_i64) else {
            return Err(ApiError::invalid(
                "Scale",
                &gr,
                &name,
                vec![Cause::required("spec.replicas")],
            ));
        };
        if replicas < 0 {
            return Err(ApiError::invalid(
                "Scale",
                &gr,
                &name,
                vec![Cause::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let client_rv = wanted
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let old_rv = crate::api::meta(&old, "resourceVersion").to_string();
        if !client_rv.is_empty() && client_rv != old_rv {
            return Err(ApiError::stale(&gr, &name));
        }
        let mut next = old.clone();
        next["spec"]["replicas"] = json!(replicas);
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if old.pointer("/spec/replicas") != Some(&json!(replicas)) {
            next["metadata"]["generation"] = json!(generation + 1);
        }
        crate::apply::record_update(
            Some(&old),
            &mut next,
            &ctx.manager(),
            &ctx.api_version(),
            ctx.main_scope(),
        );
        if ctx.dry_run() {
            return Ok(respond::json(200, &scale_of(&ctx, &next)));
        }
        match ctx.cluster.store.update(&gr, next, Some(&old_rv)) {
            Ok((stored, _)) => return Ok(respond::json(200, &scale_of(&ctx, &stored))),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(ctx.store_error(&name, e)),
        }
    }
    Err(ApiError::stale(&gr, &name))
}

/// TokenRequest (`POST serviceaccounts/<name>/token`).
pub async fn token(ctx: Ctx) -> ApiResult<Response<Body>> {
    if ctx.info.verb != "create" {
        return Err(ApiError::method_not_allowed());
    }
    let gr = ctx.gr();
    let name = ctx.name().to_string();
    let req = respond::decode(ctx.content_type(), &ctx.body)?;
    if req
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "TokenRequest")
    {
        return Err(ApiError::bad_request("the body must be a TokenRequest"));
    }
    let sa = ctx
        .cluster
        .store
        .get(&gr, ctx.ns(), &name)
        .ok_or_else(|| ApiError::not_found(&gr, &name))?;
    let tr_gr = crate::resources::GroupResource::new("authentication.k8s.io", "tokenrequests");
    let expiration = req
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if expiration < 600 {
        return Err(ApiError::invalid(
            "TokenRequest",
            &tr_gr,
            &name,
            vec![Cause::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    if expiration > 1 << 32 {
        return Err(ApiError::invalid(
            "TokenRequest",
            &tr_gr,
            &name,
            vec![Cause::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                "may not specify a duration larger than 2^32 seconds",
            )],
        ));
    }
    let audiences: Vec<String> = req
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![serviceaccount::ISSUER.to_string()]);
    let bound = match req.pointer("/spec/boundObjectRef") {
        Some(b) if !b.is_null() => {
            let kind = b.get("kind").and_then(Value::as_str).unwrap_or("");
            let resource = match kind {
                "Pod" => "pods",
                "Secret" => "secrets",
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token to object of type {kind}"
                    )));
                }
            };
            let bname = b.get("name").and_then(Value::as_str).unwrap_or("");
            let obj = ctx
                .cluster
                .store
                .get(
                    &crate::resources::GroupResource::new("", resource),
                    ctx.ns(),
                    bname,
                )
                .ok_or_else(|| {
                    ApiError::not_found(&crate::resources::GroupResource::new("", resource), bname)
                })?;
            Some(json!({"kind": kind, "name": bname, "uid": crate::api::meta(&obj, "uid")}))
        }
        _ => None,
    };
    let (token, exp) =
        serviceaccount::issue(&ctx.cluster, &sa, &audiences, expiration, bound.as_ref());
    let ts = chrono::DateTime::from_timestamp(exp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut spec =
        json!({"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound});
    if bound.is_none() {
        spec["boundObjectRef"] = Value::Null;
    }
    Ok(respond::json(
        201,
        &json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ctx.ns(), "creationTimestamp": null},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": ts},
        }),
    ))
}

/// `PUT namespaces/<name>/finalize`: only spec.finalizers changes.
pub async fn finalize(ctx: Ctx) -> ApiResult<Response<Body>> {
    if ctx.info.verb != "update" {
        return Err(ApiError::method_not_allowed());
    }
    let body = respond::decode(ctx.content_type(), &ctx.body)?;
    check_type_meta(&ctx, &body)?;
    let gr = ctx.gr();
    let name = ctx.name().to_string();
    let old = ctx
        .cluster
        .store
        .get(&gr, "", &name)
        .ok_or_else(|| ApiError::not_found(&gr, &name))?;
    let mut next = old.clone();
    next["spec"]["finalizers"] = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let rv = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let (stored, _) = ctx
        .cluster
        .store
        .update(&gr, next, rv.as_deref())
        .map_err(|e| ctx.store_error(&name, e))?;
    ctx.cluster.kick_namespace_controller();
    Ok(respond::json(200, &ctx.present(stored)))
}
