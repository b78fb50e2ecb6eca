//! create, update, patch (merge, JSON, strategic) and server-side apply, through one
//! preparation pipeline: type checks, system fields, defaulting, pruning, validation,
//! managedFields and admission.

use http::Response;
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::apply::{self, Scope};
use crate::respond::{self, Body};
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::StoreError;
use crate::{admission, defaults, merge, validation};

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generate_suffix() -> String {
    (0..5)
        .map(|_| GENERATE_CHARS[rand::random::<u32>() as usize % GENERATE_CHARS.len()] as char)
        .collect()
}

/// The body as an object of this endpoint's kind.
pub fn decode_object(ctx: &Ctx) -> ApiResult<Value> {
    let v = respond::decode(ctx.content_type(), &ctx.body)?;
    check_type_meta(ctx, &v)?;
    Ok(v)
}

pub fn check_type_meta(ctx: &Ctx, v: &Value) -> ApiResult<()> {
    let Some(m) = v.as_object() else {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&v.to_string())
        )));
    };
    let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let expected = ctx.api_version();
    if !api_version.is_empty() {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        if group != ctx.def.group || !ctx.def.versions.iter().any(|x| x == version) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected})"
            )));
        }
    }
    if !kind.is_empty() && kind != ctx.def.kind {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {}: no kind \"{kind}\" is registered for version \"{expected}\"",
            ctx.info.version, ctx.def.kind
        )));
    }
    if let Some(meta) = m.get("metadata")
        && !meta.is_object()
        && !meta.is_null()
    {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: metadata must be an object",
            ctx.def.kind, ctx.info.version, ctx.def.kind
        )));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn strip_meta(obj: &mut Value, fields: &[&str]) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in fields {
            m.remove(*f);
        }
    }
}

fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

/// Turns what a client sent (or a patch produced) into the object to store.
pub fn prepare(
    ctx: &Ctx,
    old: Option<&Value>,
    mut obj: Value,
    scope: Scope,
    record: bool,
) -> ApiResult<Value> {
    let def = &ctx.def;
    // kube-apiserver decodes into its Go types before anything else: a field of the wrong type
    // (`metadata.name: []`) is a 400 decode error, never read as "missing" by a later check.
    validation::decode_check(def, &obj)?;
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["apiVersion"] = json!(ctx.api_version());
    obj["kind"] = json!(def.kind);
    let url_ns = ctx.ns().to_string();
    let body_ns = crate::api::meta(&obj, "namespace").to_string();
    if def.namespaced {
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(url_ns);
    } else {
        strip_meta(&mut obj, &["namespace"]);
    }
    match old {
        None => {
            let name = crate::api::meta(&obj, "name").to_string();
            let generate = crate::api::meta(&obj, "generateName").to_string();
            if name.is_empty() && !generate.is_empty() {
                obj["metadata"]["name"] = json!(format!("{generate}{}", generate_suffix()));
            } else if name.is_empty() {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.gr(),
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired",
                        field: "metadata.name".into(),
                        message: "Required value: name or generateName is required".into(),
                    }],
                ));
            }
            if !crate::api::meta(&obj, "resourceVersion").is_empty() {
                return Err(ApiError::internal(
                    "resourceVersion should not be set on objects to be created",
                ));
            }
            strip_meta(
                &mut obj,
                &[
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "selfLink",
                    "resourceVersion",
                ],
            );
            if record {
                strip_meta(&mut obj, &["managedFields"]);
            }
            obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
            if def.generation {
                obj["metadata"]["generation"] = json!(1);
            }
            if def.status
                && let Some(m) = obj.as_object_mut()
            {
                m.remove("status");
            }
        }
        Some(old) => {
            let name = crate::api::meta(&obj, "name");
            if name != crate::api::meta(old, "name") {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    crate::api::meta(old, "name")
                )));
            }
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old["metadata"].get(f) {
                    Some(v) => obj["metadata"][f] = v.clone(),
                    None => strip_meta(&mut obj, &[f]),
                }
            }
            if obj.pointer("/metadata/managedFields").is_none()
                && let Some(mf) = old.pointer("/metadata/managedFields")
            {
                obj["metadata"]["managedFields"] = mf.clone();
            }
            match scope {
                Scope::Main { has_status: true } => match old.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        obj.as_object_mut().unwrap().remove("status");
                    }
                },
                Scope::Status => {
                    let mut next = old.clone();
                    match obj.get("status") {
                        Some(s) => next["status"] = s.clone(),
                        None => {
                            next.as_object_mut().unwrap().remove("status");
                        }
                    }
                    next["metadata"]["resourceVersion"] = obj["metadata"]
                        .get("resourceVersion")
                        .cloned()
                        .unwrap_or(Value::Null);
                    if let Some(mf) = obj.pointer("/metadata/managedFields") {
                        next["metadata"]["managedFields"] = mf.clone();
                    }
                    obj = next;
                }
                _ => {}
            }
            if def.generation {
                let gen_old = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let bump = spec_part(&obj) != spec_part(old);
                obj["metadata"]["generation"] = json!(if bump { gen_old + 1 } else { gen_old });
            }
        }
    }
    validation::decode_check(def, &obj)?;
    defaults::apply(def, &mut obj, old);
    if def.custom
        && let Some(schema) = &def.schema
    {
        // fieldValidation=Strict (kubectl's default) rejects what Ignore/Warn silently prune.
        if ctx.query.get("fieldValidation") == Some("Strict") {
            let mut unknown = vec![];
            validation::unknown_fields(&obj, schema, "", &mut unknown);
            if !unknown.is_empty() {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = def.kind,
                    v = ctx.info.version
                )));
            }
        }
        validation::prune(&mut obj, schema, true);
    }
    validation::validate(def, &obj, old)?;
    admission::service_account_token_secret(def, &obj)?;
    if record {
        apply::record_update(old, &mut obj, &ctx.manager(), &ctx.api_version(), scope);
    }
    if old.is_none() {
        admission::namespace_lifecycle(
            &ctx.cluster,
            def,
            ctx.ns(),
            crate::api::meta(&obj, "name"),
        )?;
    }
    admission::rbac_escalation(&ctx.cluster, &ctx.user, def, &obj, ctx.ns())?;
    Ok(obj)
}

fn store_create(ctx: &Ctx, obj: Value) -> ApiResult<Response<Body>> {
    let name = crate::api::meta(&obj, "name").to_string();
    if ctx.dry_run() {
        let mut o = obj;
        o["metadata"]["creationTimestamp"] = json!(crate::store::now_rfc3339());
        return Ok(respond::object(201, &ctx.present(o), ctx.accept()));
    }
    let stored = ctx
        .cluster
        .store
        .create(&ctx.gr(), obj)
        .map_err(|e| ctx.store_error(&name, e))?;
    Ok(respond::object(201, &ctx.present(stored), ctx.accept()))
}

pub fn create(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let obj = decode_object(ctx)?;
    let obj = prepare(ctx, None, obj, ctx.main_scope(), true)?;
    store_create(ctx, obj)
}

pub fn update(ctx: &Ctx, scope: Scope) -> ApiResult<Response<Body>> {
    let mut obj = decode_object(ctx)?;
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let name = ctx.name().to_string();
    let body_name = crate::api::meta(&obj, "name").to_string();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let old = ctx
        .cluster
        .store
        .get(&ctx.gr(), ctx.ns(), &name)
        .ok_or_else(|| ApiError::not_found(&ctx.gr(), &name))?;
    let expected = crate::api::meta(&obj, "resourceVersion").to_string();
    if expected.is_empty() {
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    }
    let new = prepare(ctx, Some(&old), obj, scope, true)?;
    write_update(
        ctx,
        new,
        if expected.is_empty() {
            None
        } else {
            Some(expected)
        },
        200,
    )
}

fn write_update(
    ctx: &Ctx,
    new: Value,
    expected: Option<String>,
    code: u16,
) -> ApiResult<Response<Body>> {
    let name = crate::api::meta(&new, "name").to_string();
    if ctx.dry_run() {
        return Ok(respond::object(code, &ctx.present(new), ctx.accept()));
    }
    match ctx
        .cluster
        .store
        .update(&ctx.gr(), new, expected.as_deref())
    {
        Ok((stored, _)) => Ok(respond::object(code, &ctx.present(stored), ctx.accept())),
        Err(e) => Err(ctx.store_error(&name, e)),
    }
}

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

pub fn patch(ctx: &Ctx, scope: Scope) -> ApiResult<Response<Body>> {
    let ct = ctx.content_type().to_string();
    if ctx.def.custom && ct == "application/strategic-merge-patch+json" {
        let accepted: Vec<&str> = PATCH_TYPES
            .iter()
            .copied()
            .filter(|t| !t.contains("strategic"))
            .collect();
        return Err(ApiError::unsupported_media_type(&ct, &accepted));
    }
    if !PATCH_TYPES.contains(&ct.as_str()) {
        return Err(ApiError::unsupported_media_type(&ct, PATCH_TYPES));
    }
    if ct == "application/apply-patch+yaml" {
        return server_side_apply(ctx, scope);
    }
    if ctx.query.0.contains_key("force") {
        return Err(ApiError::bad_request(
            "force is only supported for apply requests",
        ));
    }
    let patch: Value = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let name = ctx.name().to_string();
    for _ in 0..8 {
        let old = ctx
            .cluster
            .store
            .get(&ctx.gr(), ctx.ns(), &name)
            .ok_or_else(|| ApiError::not_found(&ctx.gr(), &name))?;
        let mut target = ctx.present(old.clone());
        let applied = match ct.as_str() {
            "application/merge-patch+json" => {
                if !patch.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                merge::json_merge_patch(&mut target, &patch);
                Ok(())
            }
            "application/json-patch+json" => merge::json_patch(&mut target, &patch),
            _ => {
                if !patch.is_object() {
                    return Err(ApiError::bad_request(
                        "a strategic merge patch must be a JSON object",
                    ));
                }
                merge::strategic_merge_patch(&mut target, &patch)
            }
        };
        if let Err(e) = applied {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!("the server rejected our request due to an error in our request: {e}"),
            ));
        }
        check_type_meta(ctx, &target)?;
        if !target.get("metadata").is_some_and(Value::is_object) {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
        let old_rv = crate::api::meta(&old, "resourceVersion").to_string();
        let client_rv = crate::api::meta(&target, "resourceVersion").to_string();
        if !client_rv.is_empty() && client_rv != old_rv {
            return Err(ApiError::stale(&ctx.gr(), &name));
        }
        target["metadata"]["resourceVersion"] = json!(old_rv);
        let new = prepare(ctx, Some(&old), target, scope, true)?;
        if ctx.dry_run() {
            return Ok(respond::object(200, &ctx.present(new), ctx.accept()));
        }
        match ctx.cluster.store.update(&ctx.gr(), new, Some(&old_rv)) {
            Ok((stored, _)) => return Ok(respond::object(200, &ctx.present(stored), ctx.accept())),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(ctx.store_error(&name, e)),
        }
    }
    Err(ApiError::stale(&ctx.gr(), &name))
}

fn conflict_error(ctx: &Ctx, name: &str, conflicts: &[apply::Conflict]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version), "field": apply::render_path(&c.path)}))
        .collect();
    let message = if conflicts.len() == 1 {
        let c = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {}: {}",
            c.manager,
            c.api_version,
            apply::render_path(&c.path)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|c| {
                format!(
                    "- conflict with \"{}\" using {}: {}",
                    c.manager,
                    c.api_version,
                    apply::render_path(&c.path)
                )
            })
            .collect();
        format!(
            "Apply failed with {} conflicts:\n{}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let mut details = ctx.gr().details(name);
    details["causes"] = Value::Array(causes);
    let mut e = ApiError::new(409, "Conflict", message);
    e.details = details;
    e
}

fn server_side_apply(ctx: &Ctx, scope: Scope) -> ApiResult<Response<Body>> {
    let applied = respond::decode_yaml(&ctx.body)?;
    if !applied.is_object() {
        return Err(ApiError::bad_request("the apply patch must be an object"));
    }
    if applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        || applied
            .get("kind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "invalid object type: apiVersion and kind must be set in an apply patch",
        ));
    }
    check_type_meta(ctx, &applied)?;
    // kube-apiserver converts the apply patch to its typed form first: `metadata.name: {}` is
    // a 400 there, not a missing name the URL then fills in.
    validation::decode_check(&ctx.def, &applied)?;
    let name = ctx.name().to_string();
    let body_name = applied
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let mut applied = applied;
    if !applied.get("metadata").is_some_and(Value::is_object) {
        applied["metadata"] = json!({});
    }
    applied["metadata"]["name"] = json!(name);
    let Some(manager) = ctx.query.get("fieldManager").map(str::to_string) else {
        return Err(ApiError::bad_request(
            "PATCH with apply requires a fieldManager (the fieldManager query parameter)",
        ));
    };
    let force = ctx.query.flag("force");
    let api_version = ctx.api_version();
    for _ in 0..8 {
        let old = ctx.cluster.store.get(&ctx.gr(), ctx.ns(), &name);
        match old {
            None => {
                if scope == Scope::Status {
                    return Err(ApiError::not_found(&ctx.gr(), &name));
                }
                let merged = apply::apply(None, &applied, &manager, &api_version, force, scope)
                    .map_err(|c| conflict_error(ctx, &name, &c))?;
                let obj = prepare(ctx, None, merged, scope, false)?;
                match store_create(ctx, obj) {
                    Err(e) if e.reason == "AlreadyExists" => continue,
                    other => return other,
                }
            }
            Some(old) => {
                let merged =
                    apply::apply(Some(&old), &applied, &manager, &api_version, force, scope)
                        .map_err(|c| conflict_error(ctx, &name, &c))?;
                let old_rv = crate::api::meta(&old, "resourceVersion").to_string();
                let new = prepare(ctx, Some(&old), merged, scope, false)?;
                if ctx.dry_run() {
                    return Ok(respond::object(200, &ctx.present(new), ctx.accept()));
                }
                match ctx.cluster.store.update(&ctx.gr(), new, Some(&old_rv)) {
                    Ok((stored, _)) => {
                        return Ok(respond::object(200, &ctx.present(stored), ctx.accept()));
                    }
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(ctx.store_error(&name, e)),
                }
            }
        }
    }
    Err(ApiError::stale(&ctx.gr(), &name))
}
