//! The object store: what etcd is to kube-apiserver. One global, monotonic resourceVersion;
//! every write is an event kept in a bounded history so watches can resume from a version and
//! get 410 Gone once it has been compacted away.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

use crate::resources::GroupResource;

/// Events kept for watch resumption by default; older versions answer 410 Gone, as after an
/// etcd compaction.
pub const DEFAULT_HISTORY: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub typ: EventType,
    pub gr: GroupResource,
    pub namespace: String,
    pub name: String,
    pub object: Value,
    /// The object before this write (None for ADDED), so watches with selectors can turn an
    /// object leaving the selection into DELETED, as kube-apiserver's watch cache does.
    pub prev: Option<Value>,
}

pub type EventReceiver = broadcast::Receiver<Arc<Event>>;

#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    AlreadyExists,
    /// resourceVersion precondition failed.
    Conflict,
    /// uid precondition failed.
    UidMismatch {
        expected: String,
        actual: String,
    },
}

#[derive(Default)]
struct Inner {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<(String, String), Value>>,
    history: VecDeque<Arc<Event>>,
    /// Watches must start at or after this version.
    oldest_rv: u64,
    capacity: usize,
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    /// Signalled on every write (the snapshot writer waits on it).
    pub changed: Notify,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Writes below index into `metadata`; make sure that cannot panic while the lock is held.
fn ensure_metadata(obj: &mut Value) {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The object without what changes on every write, so a write that changes nothing else can
/// be recognised and dropped (kube-apiserver does not bump resourceVersion for those).
fn comparable(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    o
}

impl Store {
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    pub fn with_history(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                capacity: capacity.max(1),
                ..Default::default()
            }),
            tx,
            changed: Notify::new(),
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).rv
    }

    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .objects
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a resource (in one namespace, or all), sorted by namespace and name, and the
    /// store's version at that instant.
    pub fn list(&self, gr: &GroupResource, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (Self::list_locked(&inner, gr, ns), inner.rv)
    }

    fn list_locked(inner: &Inner, gr: &GroupResource, ns: Option<&str>) -> Vec<Value> {
        match inner.objects.get(gr) {
            None => vec![],
            Some(m) => match ns {
                None => m.values().cloned().collect(),
                Some(ns) => m
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
            },
        }
    }

    /// Every resource type that has at least one object in namespace `ns`.
    pub fn resources_in_namespace(&self, ns: &str) -> Vec<GroupResource> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .objects
            .iter()
            .filter(|(_, m)| m.keys().any(|(n, _)| n == ns))
            .map(|(gr, _)| gr.clone())
            .collect()
    }

    fn emit(
        &self,
        inner: &mut Inner,
        typ: EventType,
        gr: &GroupResource,
        object: &Value,
        prev: Option<Value>,
    ) {
        let ev = Arc::new(Event {
            rv: inner.rv,
            typ,
            gr: gr.clone(),
            namespace: meta_str(object, "namespace").to_string(),
            name: meta_str(object, "name").to_string(),
            object: object.clone(),
            prev,
        });
        inner.history.push_back(ev.clone());
        while inner.history.len() > inner.capacity {
            if let Some(old) = inner.history.pop_front() {
                inner.oldest_rv = old.rv;
            }
        }
        let _ = self.tx.send(ev);
        self.changed.notify_waiters();
    }

    /// Stores a new object, assigning uid, creationTimestamp and resourceVersion.
    pub fn create(&self, gr: &GroupResource, mut obj: Value) -> Result<Value, StoreError> {
        ensure_metadata(&mut obj);
        let ns = meta_str(&obj, "namespace").to_string();
        let name = meta_str(&obj, "name").to_string();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (ns, name);
        if inner.objects.get(gr).is_some_and(|m| m.contains_key(&key)) {
            return Err(StoreError::AlreadyExists);
        }
        inner.rv += 1;
        let rv = inner.rv;
        let meta = &mut obj["metadata"];
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        }
        meta["resourceVersion"] = json!(rv.to_string());
        if meta
            .get("creationTimestamp")
            .and_then(Value::as_str)
            .is_none()
        {
            meta["creationTimestamp"] = json!(now_rfc3339());
        }
        inner
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key, obj.clone());
        self.emit(&mut inner, EventType::Added, gr, &obj, None);
        Ok(obj)
    }

    /// Replaces an object. `expected_rv` is the optimistic-concurrency precondition. Returns the
    /// stored object and whether anything changed (no-op writes keep their resourceVersion).
    /// An object being deleted whose finalizers are all gone is removed, as the real
    /// registry does.
    pub fn update(
        &self,
        gr: &GroupResource,
        mut obj: Value,
        expected_rv: Option<&str>,
    ) -> Result<(Value, bool), StoreError> {
        ensure_metadata(&mut obj);
        let ns = meta_str(&obj, "namespace").to_string();
        let name = meta_str(&obj, "name").to_string();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (ns, name);
        let old = inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if let Some(rv) = expected_rv
            && rv != meta_str(&old, "resourceVersion")
        {
            return Err(StoreError::Conflict);
        }
        let uid = meta_str(&obj, "uid");
        if !uid.is_empty() && uid != meta_str(&old, "uid") {
            return Err(StoreError::UidMismatch {
                expected: uid.to_string(),
                actual: meta_str(&old, "uid").to_string(),
            });
        }
        for f in ["uid", "creationTimestamp", "resourceVersion"] {
            obj["metadata"][f] = old["metadata"][f].clone();
        }
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        let no_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        if deleting && no_finalizers {
            inner.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            inner.objects.get_mut(gr).unwrap().remove(&key);
            self.emit(&mut inner, EventType::Deleted, gr, &obj, Some(old));
            return Ok((obj, true));
        }
        if comparable(&obj) == comparable(&old) {
            return Ok((old, false));
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.get_mut(gr).unwrap().insert(key, obj.clone());
        self.emit(&mut inner, EventType::Modified, gr, &obj, Some(old));
        Ok((obj, true))
    }

    /// Removes an object now (finalizers are the caller's business).
    pub fn delete(
        &self,
        gr: &GroupResource,
        ns: &str,
        name: &str,
        uid: Option<&str>,
        rv: Option<&str>,
    ) -> Result<Value, StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (ns.to_string(), name.to_string());
        let old = inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if let Some(uid) = uid
            && uid != meta_str(&old, "uid")
        {
            return Err(StoreError::UidMismatch {
                expected: uid.to_string(),
                actual: meta_str(&old, "uid").to_string(),
            });
        }
        if let Some(rv) = rv
            && rv != meta_str(&old, "resourceVersion")
        {
            return Err(StoreError::Conflict);
        }
        inner.objects.get_mut(gr).unwrap().remove(&key);
        inner.rv += 1;
        let mut obj = old;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.emit(&mut inner, EventType::Deleted, gr, &obj, None);
        Ok(obj)
    }

    /// Every object with an ownerReference to `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<(GroupResource, Value)> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = vec![];
        for (gr, m) in &inner.objects {
            for obj in m.values() {
                let owned = obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                    });
                if owned {
                    out.push((gr.clone(), obj.clone()));
                }
            }
        }
        out
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Events after `rv` still in history, and a receiver for what follows, taken atomically.
    /// `Err(oldest)` when `rv` is older than the history reaches.
    pub fn watch_from(&self, rv: u64) -> Result<(Vec<Arc<Event>>, EventReceiver), u64> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if rv < inner.oldest_rv {
            return Err(inner.oldest_rv);
        }
        let past = inner
            .history
            .iter()
            .filter(|e| e.rv > rv)
            .cloned()
            .collect();
        Ok((past, self.tx.subscribe()))
    }

    /// Current objects, the version they are at, and a receiver for later events, atomically.
    pub fn list_and_watch(
        &self,
        gr: &GroupResource,
        ns: Option<&str>,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Arc<Event>>) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            Self::list_locked(&inner, gr, ns),
            inner.rv,
            self.tx.subscribe(),
        )
    }

    pub fn dump(&self) -> Value {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut objects = vec![];
        for (gr, m) in &inner.objects {
            for obj in m.values() {
                objects.push(json!({"group": gr.group, "resource": gr.resource, "object": obj}));
            }
        }
        json!({"resourceVersion": inner.rv, "objects": objects})
    }

    pub fn load(&self, snapshot: &Value) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.rv = snapshot
            .get("resourceVersion")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        inner.oldest_rv = inner.rv;
        inner.objects.clear();
        for o in snapshot
            .get("objects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let gr = GroupResource::new(
                o.get("group").and_then(Value::as_str).unwrap_or(""),
                o.get("resource").and_then(Value::as_str).unwrap_or(""),
            );
            let obj = o.get("object").cloned().unwrap_or(Value::Null);
            let key = (
                meta_str(&obj, "namespace").to_string(),
                meta_str(&obj, "name").to_string(),
            );
            inner.objects.entry(gr).or_default().insert(key, obj);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a"}, "data": {"k": "v"}})
    }

    #[test]
    fn versions_are_monotonic_and_noop_updates_keep_them() {
        let s = Store::new();
        let gr = GroupResource::new("", "configmaps");
        let a = s.create(&gr, cm("x")).unwrap();
        let rv = a["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let (b, changed) = s.update(&gr, a.clone(), Some(&rv)).unwrap();
        assert!(!changed);
        assert_eq!(b["metadata"]["resourceVersion"], json!(rv));
        let mut c = a.clone();
        c["data"]["k"] = json!("w");
        let (d, changed) = s.update(&gr, c.clone(), Some(&rv)).unwrap();
        assert!(changed);
        assert!(
            d["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > rv.parse().unwrap()
        );
        assert_eq!(s.update(&gr, c, Some(&rv)), Err(StoreError::Conflict));
    }
}
