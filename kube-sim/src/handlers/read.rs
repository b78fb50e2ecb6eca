//! get and list, with selectors, pagination and the Table / PartialObjectMetadata renderings.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::Response;
use serde_json::{Value, json};

use super::Ctx;
use crate::respond::{self, Body};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::table::{self, IncludeObject};

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum Rendering {
    Object,
    Table,
    Metadata,
}

pub fn rendering(accept: &str) -> Rendering {
    // The first acceptable entry wins, as in kube-apiserver's negotiation.
    for a in accept.split(',') {
        let params: Vec<&str> = a.split(';').map(str::trim).collect();
        if params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io") {
            return Rendering::Table;
        }
        if (params.contains(&"as=PartialObjectMetadata")
            || params.contains(&"as=PartialObjectMetadataList"))
            && params.contains(&"g=meta.k8s.io")
        {
            return Rendering::Metadata;
        }
        if matches!(
            params[0],
            "application/json" | "application/yaml" | "*/*" | "application/*" | ""
        ) {
            return Rendering::Object;
        }
    }
    Rendering::Object
}

pub fn include_object(ctx: &Ctx) -> IncludeObject {
    match ctx.query.get("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

pub fn get(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let obj = ctx
        .cluster
        .store
        .get(&ctx.gr(), ctx.ns(), ctx.name())
        .ok_or_else(|| ApiError::not_found(&ctx.gr(), ctx.name()))?;
    let obj = ctx.present(obj);
    Ok(match rendering(ctx.accept()) {
        Rendering::Table => respond::json(
            200,
            &table::table(
                &ctx.def,
                std::slice::from_ref(&obj),
                json!({"resourceVersion": obj.pointer("/metadata/resourceVersion")}),
                include_object(ctx),
            ),
        ),
        Rendering::Metadata => respond::json(200, &table::partial_metadata(&obj)),
        Rendering::Object => respond::object(200, &obj, ctx.accept()),
    })
}

pub struct Selection {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selection {
    pub fn from(ctx: &Ctx) -> ApiResult<Self> {
        let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))?;
        let mut fields = ctx.query.get("fieldSelector").unwrap_or("").to_string();
        // A watch on a named object (the deprecated /watch/<name> form) is a name selector.
        if !ctx.info.name.is_empty() {
            if !fields.is_empty() {
                fields.push(',');
            }
            fields.push_str(&format!("metadata.name={}", ctx.info.name));
        }
        let fields = FieldSelector::parse(&fields, &ctx.def)?;
        Ok(Selection { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels
            .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
            && self.fields.matches(obj)
    }
}

fn key_of(obj: &Value) -> String {
    format!(
        "{}/{}",
        crate::api::meta(obj, "namespace"),
        crate::api::meta(obj, "name")
    )
}

pub fn list(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let sel = Selection::from(ctx)?;
    let ns = if ctx.info.namespace.is_empty() || !ctx.def.namespaced {
        None
    } else {
        Some(ctx.info.namespace.as_str())
    };
    let (items, rv) = ctx.cluster.store.list(&ctx.gr(), ns);
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|o| sel.matches(o))
        .map(|o| ctx.present(o))
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});

    if let Some(token) = ctx.query.get("continue") {
        let decoded = B64
            .decode(token)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let Some(start) = decoded
            .as_ref()
            .and_then(|d| d.get("start"))
            .and_then(Value::as_str)
        else {
            return Err(ApiError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        };
        items.retain(|o| key_of(o).as_str() > start);
    }
    if let Some(limit) = ctx
        .query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        && items.len() > limit
    {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let token =
            json!({"v": "meta.k8s.io/v1", "rv": rv, "start": key_of(items.last().unwrap())});
        meta["continue"] = json!(B64.encode(token.to_string()));
        meta["remainingItemCount"] = json!(remaining);
    }

    Ok(match rendering(ctx.accept()) {
        Rendering::Table => respond::json(
            200,
            &table::table(&ctx.def, &items, meta, include_object(ctx)),
        ),
        Rendering::Metadata => {
            let items: Vec<Value> = items.iter().map(table::partial_metadata).collect();
            respond::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
            )
        }
        Rendering::Object => respond::object(
            200,
            &json!({"kind": ctx.def.list_kind(), "apiVersion": ctx.api_version(), "metadata": meta, "items": items}),
            ctx.accept(),
        ),
    })
}
