//! Watch: a chunked stream of newline-delimited events, starting with the current state (no
//! or "0" resourceVersion, or sendInitialEvents) or resuming after a given resourceVersion;
//! 410 Expired as an ERROR event when that version has left the history.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Ctx;
use super::read::{Rendering, Selection, include_object, rendering};
use crate::resources::ResourceDef;
use crate::respond::Body;
use crate::status::{ApiError, ApiResult};
use crate::store::{Event, EventType};
use crate::table::{self, IncludeObject};

struct Encoder {
    def: Arc<ResourceDef>,
    api_version: String,
    table: bool,
    include: IncludeObject,
    first: bool,
}

impl Encoder {
    fn line(&mut self, typ: &str, obj: &Value) -> Bytes {
        let mut o = obj.clone();
        if typ != "ERROR" {
            o["apiVersion"] = json!(self.api_version);
            o["kind"] = json!(self.def.kind);
        }
        let object = if self.table && typ != "ERROR" && typ != "BOOKMARK" {
            let mut t = table::table(
                &self.def,
                &[o],
                json!({"resourceVersion": obj.pointer("/metadata/resourceVersion")}),
                self.include,
            );
            if !self.first {
                t["columnDefinitions"] = json!([]);
            }
            self.first = false;
            t
        } else {
            o
        };
        let mut b = serde_json::to_vec(&json!({"type": typ, "object": object})).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    }
}

fn bookmark(api_version: &str, kind: &str, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": meta})
}

pub async fn watch(ctx: Ctx) -> ApiResult<Response<Body>> {
    let sel = Selection::from(&ctx)?;
    let gr = ctx.gr();
    let ns = if ctx.def.namespaced && !ctx.info.namespace.is_empty() {
        Some(ctx.info.namespace.clone())
    } else {
        None
    };
    let rv_param = ctx.query.get("resourceVersion").map(str::to_string);
    let send_initial = ctx.query.flag("sendInitialEvents");
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let timeout = ctx
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800)
        .min(3600);
    let store = &ctx.cluster.store;

    let mut enc = Encoder {
        def: ctx.def.clone(),
        api_version: ctx.api_version(),
        table: rendering(ctx.accept()) == Rendering::Table,
        include: include_object(&ctx),
        first: true,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = vec![];
    let receiver: broadcast::Receiver<Arc<Event>>;
    let mut last_rv: u64;
    let explicit_rv = rv_param
        .as_deref()
        .filter(|r| *r != "0")
        .map(|r| r.parse::<u64>());
    match explicit_rv {
        Some(Err(_)) => {
            return Err(ApiError::bad_request(format!(
                "invalid resource version: {}",
                rv_param.unwrap_or_default()
            )));
        }
        Some(Ok(rv)) if !send_initial => match store.watch_from(rv) {
            Ok((past, rx)) => {
                last_rv = rv;
                for ev in past {
                    if let Some(line) = filter_event(&ev, &gr, ns.as_deref(), &sel, &mut enc) {
                        initial.push(line);
                    }
                    last_rv = ev.rv;
                }
                receiver = rx;
            }
            Err(oldest) => {
                let status =
                    ApiError::gone(format!("too old resource version: {rv} ({oldest})")).to_json();
                initial.push(enc.line("ERROR", &status));
                let body = stream_body(futures::stream::iter(initial).boxed());
                return Ok(watch_response(body));
            }
        },
        _ => {
            let (items, rv, rx) = store.list_and_watch(&gr, ns.as_deref());
            for o in items.iter().filter(|o| sel.matches(o)) {
                initial.push(enc.line("ADDED", o));
            }
            if send_initial {
                initial.push(enc.line(
                    "BOOKMARK",
                    &bookmark(&enc.api_version, &enc.def.kind, rv, true),
                ));
            }
            last_rv = rv;
            receiver = rx;
        }
    }

    let cancel = ctx.cluster.cancel.clone();
    let kind = ctx.def.kind.clone();
    tokio::spawn(async move {
        let mut receiver = receiver;
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    let line = enc.line("BOOKMARK", &bookmark(&enc.api_version, &kind, last_rv, false));
                    if tx.send(line).await.is_err() { return; }
                }
                ev = receiver.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= last_rv { continue; }
                        last_rv = ev.rv;
                        if let Some(line) = filter_event(&ev, &gr, ns.as_deref(), &sel, &mut enc)
                            && tx.send(line).await.is_err()
                        {
                            return;
                        }
                    }
                    // A watcher too slow to keep up is closed, as kube-apiserver closes it;
                    // the client re-watches from its last resourceVersion.
                    Err(_) => return,
                }
            }
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
            .boxed();
    Ok(watch_response(stream_body(stream)))
}

fn filter_event(
    ev: &Event,
    gr: &crate::resources::GroupResource,
    ns: Option<&str>,
    sel: &Selection,
    enc: &mut Encoder,
) -> Option<Bytes> {
    if ev.gr != *gr || ns.is_some_and(|n| n != ev.namespace) {
        return None;
    }
    let now = sel.matches(&ev.object);
    let before = ev.prev.as_ref().is_some_and(|p| sel.matches(p));
    let typ = match (ev.typ, before, now) {
        (EventType::Added, _, true) => "ADDED",
        (EventType::Modified, true, true) => "MODIFIED",
        (EventType::Modified, false, true) => "ADDED",
        (EventType::Modified, true, false) => "DELETED",
        (EventType::Deleted, _, true) => "DELETED",
        (EventType::Deleted, true, false) => "DELETED",
        _ => return None,
    };
    Some(enc.line(typ, &ev.object))
}

fn stream_body(s: futures::stream::BoxStream<'static, Bytes>) -> Body {
    BodyExt::boxed_unsync(StreamBody::new(
        s.map(|b| Ok::<_, std::io::Error>(Frame::data(b))),
    ))
}

fn watch_response(body: Body) -> Response<Body> {
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-cache, private")
        .body(body)
        .unwrap()
}
