//! delete and deletecollection: preconditions, finalizers, propagation policy, and namespace
//! deletion (phase Terminating until the namespace controller has emptied it).

use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use super::read::Selection;
use crate::resources::GroupResource;
use crate::respond::{self, Body};
use crate::status::{self, ApiError, ApiResult};
use crate::store::now_rfc3339;

struct Options {
    uid: Option<String>,
    rv: Option<String>,
    policy: String,
}

fn options(ctx: &Ctx) -> ApiResult<Options> {
    let body: Value = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        respond::decode(ctx.content_type(), &ctx.body)?
    };
    if !body.is_object() {
        return Err(ApiError::bad_request("DeleteOptions must be an object"));
    }
    let s = |p: &str| {
        body.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut policy = ctx
        .query
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| s("/propagationPolicy"));
    if policy.is_none()
        && (ctx.query.flag("orphanDependents")
            || body.get("orphanDependents") == Some(&json!(true)))
    {
        policy = Some("Orphan".into());
    }
    // batch/v1 Jobs orphan their pods unless told otherwise (kubectl says Background).
    let default = if ctx.def.group == "batch" && ctx.def.kind == "Job" {
        "Orphan"
    } else {
        "Background"
    };
    let policy = policy.unwrap_or_else(|| default.to_string());
    if !["Orphan", "Background", "Foreground"].contains(&policy.as_str()) {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy {policy:?} is not supported"
        )));
    }
    if body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x != "All"))
    {
        return Err(ApiError::bad_request("Invalid dry run value"));
    }
    Ok(Options {
        uid: s("/preconditions/uid"),
        rv: s("/preconditions/resourceVersion"),
        policy,
    })
}

fn dry_run(ctx: &Ctx, body_dry: bool) -> bool {
    ctx.dry_run() || body_dry
}

pub fn delete(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let opts = options(ctx)?;
    let body_dry = serde_json::from_slice::<Value>(&ctx.body)
        .ok()
        .and_then(|b| b.get("dryRun").cloned())
        .is_some_and(|d| d == json!(["All"]));
    let obj = delete_one(ctx, ctx.name(), &opts, dry_run(ctx, body_dry))?;
    Ok(obj)
}

fn delete_one(ctx: &Ctx, name: &str, opts: &Options, dry: bool) -> ApiResult<Response<Body>> {
    let gr = ctx.gr();
    let store = &ctx.cluster.store;
    let old = store
        .get(&gr, ctx.ns(), name)
        .ok_or_else(|| ApiError::not_found(&gr, name))?;
    if let Some(uid) = &opts.uid
        && uid != crate::api::meta(&old, "uid")
    {
        return Err(ApiError::conflict(
            &gr,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                crate::api::meta(&old, "uid")
            ),
        ));
    }
    if let Some(rv) = &opts.rv
        && rv != crate::api::meta(&old, "resourceVersion")
    {
        return Err(ApiError::conflict(
            &gr,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                crate::api::meta(&old, "resourceVersion")
            ),
        ));
    }
    let already_deleting = old.pointer("/metadata/deletionTimestamp").is_some();

    if gr == GroupResource::new("", "namespaces") {
        if ["default", "kube-system", "kube-public"].contains(&name) {
            return Err(ApiError::forbidden(
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
                gr.details(name),
            ));
        }
        if already_deleting {
            return Err(ApiError::conflict(
                &gr,
                name,
                "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
            ));
        }
        let mut next = old.clone();
        next["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        next["status"]["phase"] = json!("Terminating");
        if dry {
            return Ok(respond::json(200, &ctx.present(next)));
        }
        let rv = crate::api::meta(&old, "resourceVersion").to_string();
        let (stored, _) = store
            .update(&gr, next, Some(&rv))
            .map_err(|e| ctx.store_error(name, e))?;
        ctx.cluster.kick_namespace_controller();
        return Ok(respond::json(200, &ctx.present(stored)));
    }

    let mut finalizers: Vec<String> = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if opts.policy == "Foreground"
        && !finalizers.iter().any(|f| f == "foregroundDeletion")
        && !already_deleting
    {
        finalizers.push("foregroundDeletion".into());
    }
    if dry {
        return Ok(respond::json(200, &ctx.present(old)));
    }
    if opts.policy == "Orphan" {
        ctx.cluster.orphan_dependents(crate::api::meta(&old, "uid"));
    }
    if !finalizers.is_empty() {
        if already_deleting {
            return Ok(respond::json(200, &ctx.present(old)));
        }
        let mut next = old.clone();
        next["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        next["metadata"]["finalizers"] = json!(finalizers);
        let rv = crate::api::meta(&old, "resourceVersion").to_string();
        let (stored, _) = store
            .update(&gr, next, Some(&rv))
            .map_err(|e| ctx.store_error(name, e))?;
        return Ok(respond::json(
            if opts.policy == "Foreground" {
                202
            } else {
                200
            },
            &ctx.present(stored),
        ));
    }
    let deleted = store
        .delete(
            &gr,
            ctx.ns(),
            name,
            None,
            Some(crate::api::meta(&old, "resourceVersion")),
        )
        .map_err(|e| ctx.store_error(name, e))?;
    if ctx.def.delete_returns_object {
        Ok(respond::json(200, &ctx.present(deleted)))
    } else {
        Ok(respond::json(
            200,
            &status::success(&gr, name, crate::api::meta(&deleted, "uid")),
        ))
    }
}

pub fn collection(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let opts = options(ctx)?;
    let sel = Selection::from(ctx)?;
    let ns = if ctx.def.namespaced && !ctx.info.namespace.is_empty() {
        Some(ctx.info.namespace.as_str())
    } else {
        None
    };
    let (items, _) = ctx.cluster.store.list(&ctx.gr(), ns);
    let mut deleted = vec![];
    for obj in items.into_iter().filter(|o| sel.matches(o)) {
        let name = crate::api::meta(&obj, "name").to_string();
        match delete_one(ctx, &name, &opts, ctx.dry_run()) {
            Ok(_) => deleted.push(ctx.present(obj)),
            Err(e) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = ctx.cluster.store.current_rv();
    Ok(respond::json(
        200,
        &json!({"kind": ctx.def.list_kind(), "apiVersion": ctx.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
    ))
}
