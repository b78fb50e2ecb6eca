//! Resource handlers: one request context, dispatched by verb and subresource.

pub mod delete;
pub mod read;
pub mod reviews;
pub mod subresources;
pub mod watch;
pub mod write;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response};
use serde_json::Value;

use crate::apply::Scope;
use crate::auth::UserInfo;
use crate::cluster::Cluster;
use crate::request::{Query, RequestInfo};
use crate::resources::{GroupResource, ResourceDef, Storage};
use crate::respond::Body;
use crate::status::{ApiError, ApiResult};
use crate::store::StoreError;

pub struct Ctx {
    pub cluster: Arc<Cluster>,
    pub user: UserInfo,
    pub info: RequestInfo,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub def: Arc<ResourceDef>,
}

impl Ctx {
    pub fn new(
        cluster: Arc<Cluster>,
        user: UserInfo,
        info: RequestInfo,
        query: Query,
        headers: HeaderMap,
        body: Bytes,
    ) -> ApiResult<Self> {
        let def = cluster
            .registry
            .lookup(&info.group, &info.version, &info.resource)
            .ok_or_else(ApiError::no_such_resource)?;
        let is_namespaces = def.group.is_empty() && def.plural == "namespaces";
        if !def.namespaced && !info.namespace.is_empty() && !is_namespaces {
            return Err(ApiError::no_such_resource());
        }
        if let Some(dr) = query.0.get("dryRun")
            && !dr.is_empty()
            && dr != "All"
        {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {dr:?}; must be \"All\""
            )));
        }
        if let Some(fv) = query.get("fieldValidation")
            && !["Ignore", "Warn", "Strict"].contains(&fv)
        {
            return Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, got {fv:?}"
            )));
        }
        Ok(Ctx {
            cluster,
            user,
            info,
            query,
            headers,
            body,
            def,
        })
    }

    pub fn gr(&self) -> GroupResource {
        self.def.gr()
    }

    pub fn api_version(&self) -> String {
        self.def.api_version(&self.info.version)
    }

    /// The namespace objects of this request live in ("" for cluster-scoped kinds).
    pub fn ns(&self) -> &str {
        if self.def.namespaced {
            &self.info.namespace
        } else {
            ""
        }
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn accept(&self) -> &str {
        self.header("accept")
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
    }

    pub fn dry_run(&self) -> bool {
        self.query.0.get("dryRun").map(String::as_str) == Some("All")
    }

    /// The field manager of a non-apply write: the query parameter, else the user agent's
    /// program name, as kube-apiserver derives it.
    pub fn manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager") {
            return m.to_string();
        }
        let ua = self.header("user-agent");
        let prog = ua.split('/').next().unwrap_or("").trim();
        if prog.is_empty() {
            "unknown".into()
        } else {
            prog.chars().take(128).collect()
        }
    }

    pub fn store_error(&self, name: &str, e: StoreError) -> ApiError {
        let gr = self.gr();
        match e {
            StoreError::NotFound => ApiError::not_found(&gr, name),
            StoreError::AlreadyExists => ApiError::already_exists(&gr, name),
            StoreError::Conflict => ApiError::stale(&gr, name),
            StoreError::UidMismatch { expected, actual } => ApiError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {expected}, UID in object meta: {actual}"
                ),
            ),
        }
    }

    /// The object as this request's version presents it.
    pub fn present(&self, mut obj: Value) -> Value {
        obj["apiVersion"] = Value::String(self.api_version());
        obj["kind"] = Value::String(self.def.kind.clone());
        obj
    }

    pub fn main_scope(&self) -> Scope {
        Scope::Main {
            has_status: self.def.status,
        }
    }
}

pub async fn resource(ctx: Ctx) -> ApiResult<Response<Body>> {
    if ctx.def.storage == Storage::Virtual {
        if ctx.info.verb != "create" || !ctx.info.subresource.is_empty() {
            return Err(ApiError::method_not_allowed());
        }
        return reviews::handle(ctx).await;
    }
    let core = ctx.def.group.is_empty();
    match ctx.info.subresource.as_str() {
        "" => {}
        "status" if ctx.def.status => return subresources::status(ctx).await,
        "scale" if ctx.def.scale => return subresources::scale(ctx).await,
        "token" if core && ctx.def.plural == "serviceaccounts" => {
            return subresources::token(ctx).await;
        }
        "finalize" if core && ctx.def.plural == "namespaces" => {
            return subresources::finalize(ctx).await;
        }
        _ => return Err(ApiError::no_such_resource()),
    }
    if ctx.def.namespaced
        && ctx.info.namespace.is_empty()
        && !matches!(ctx.info.verb.as_str(), "list" | "watch")
    {
        return Err(ApiError::method_not_allowed());
    }
    match ctx.info.verb.as_str() {
        "get" => read::get(&ctx),
        "list" => read::list(&ctx),
        "watch" => watch::watch(ctx).await,
        "create" => write::create(&ctx),
        "update" => write::update(&ctx, ctx.main_scope()),
        "patch" => write::patch(&ctx, ctx.main_scope()),
        "delete" => delete::delete(&ctx),
        "deletecollection" => delete::collection(&ctx),
        _ => Err(ApiError::method_not_allowed()),
    }
}
