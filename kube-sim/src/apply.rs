//! Server-side apply and managedFields, after sigs.k8s.io/structured-merge-diff: every write
//! records which manager owns which fields (FieldsV1); an apply merges the applied
//! configuration, removes what the same manager applied before and no longer does, and
//! refuses to change fields another manager owns unless forced.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::schema::{ListType, key_default, list_type};
use crate::store::now_rfc3339;

/// A path through an object in FieldsV1 terms: `f:name`, `k:{"name":"x"}`, `v:"x"` or `.`.
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The main resource: status is not the caller's.
    Main { has_status: bool },
    /// The status subresource: only status is.
    Status,
}

const IGNORED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The leaf field paths an object sets, within the scope.
pub fn fieldset(obj: &Value, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(m) = obj.as_object() else { return out };
    for (k, v) in m {
        match (k.as_str(), scope) {
            ("apiVersion" | "kind", _) => continue,
            ("status", Scope::Main { has_status: true }) => continue,
            ("status", Scope::Status) => {}
            (_, Scope::Status) => continue,
            _ => {}
        }
        let mut path = vec![format!("f:{}", k)];
        let mut names = vec![k.clone()];
        if k == "metadata" {
            if let Some(meta) = v.as_object() {
                for (mk, mv) in meta {
                    if IGNORED_META.contains(&mk.as_str()) {
                        continue;
                    }
                    path.push(format!("f:{}", mk));
                    names.push(mk.clone());
                    walk(mv, &mut path, &mut names, &mut out);
                    path.pop();
                    names.pop();
                }
            }
            continue;
        }
        walk(v, &mut path, &mut names, &mut out);
    }
    out
}

fn walk(v: &Value, path: &mut FieldPath, names: &mut Vec<String>, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(format!("f:{}", k));
                names.push(k.clone());
                walk(child, path, names, out);
                path.pop();
                names.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match list_type(names) {
            ListType::Map(keys) if items.iter().all(|i| i.is_object()) => {
                for item in items {
                    path.push(item_key(item, &keys));
                    let mut dot = path.clone();
                    dot.push(".".into());
                    out.insert(dot);
                    walk(item, path, names, out);
                    path.pop();
                }
            }
            ListType::Set => {
                for item in items {
                    path.push(format!("v:{}", item));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut m = Map::new();
    for k in keys {
        match item.get(*k).cloned().or_else(|| key_default(k)) {
            Some(v) => {
                m.insert(k.to_string(), v);
            }
            None => continue,
        }
    }
    format!("k:{}", Value::Object(m))
}

fn matches_key(item: &Value, key: &str) -> bool {
    let Ok(Value::Object(want)) = serde_json::from_str::<Value>(key) else {
        return false;
    };
    want.iter()
        .all(|(k, v)| item.get(k).cloned().or_else(|| key_default(k)).as_ref() == Some(v))
}

/// The value at a field path, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(k) = el.strip_prefix("k:") {
            cur = cur.as_array()?.iter().find(|i| matches_key(i, k))?;
        } else if let Some(v) = el.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            cur = cur.as_array()?.iter().find(|i| **i == want)?;
        } else if el == "." {
            return Some(cur);
        }
    }
    Some(cur)
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    if last == "." {
        // The list item itself: remove it from its list.
        if let Some((key, list_path)) = parent_path.split_last()
            && let Some(Value::Array(items)) = value_at_mut(obj, list_path)
            && let Some(k) = key.strip_prefix("k:")
        {
            items.retain(|i| !matches_key(i, k));
        }
        return;
    }
    let Some(parent) = value_at_mut(obj, parent_path) else {
        return;
    };
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = parent.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Some(items), Ok(want)) = (parent.as_array_mut(), serde_json::from_str::<Value>(v))
    {
        items.retain(|i| *i != want);
    }
}

fn value_at_mut<'a>(obj: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            cur = cur.get_mut(f)?;
        } else if let Some(k) = el.strip_prefix("k:") {
            cur = cur.as_array_mut()?.iter_mut().find(|i| matches_key(i, k))?;
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Deep merge of an applied configuration into the live object: maps merge, keyed lists merge
/// item by item, everything else is replaced.
fn merge_applied(live: &mut Value, applied: &Value, names: &mut Vec<String>) {
    match (live.as_object_mut(), applied.as_object()) {
        (Some(lm), Some(am)) => {
            for (k, av) in am {
                names.push(k.clone());
                match lm.get_mut(k) {
                    Some(lv) if av.is_object() && lv.is_object() => merge_applied(lv, av, names),
                    Some(lv) if av.is_array() && lv.is_array() => {
                        if let ListType::Map(keys) = list_type(names) {
                            let litems = lv.as_array_mut().unwrap();
                            for ai in av.as_array().unwrap() {
                                let key = item_key(ai, &keys);
                                let k = key.strip_prefix("k:").unwrap();
                                match litems.iter_mut().find(|li| matches_key(li, k)) {
                                    Some(li) => merge_applied(li, ai, names),
                                    None => litems.push(ai.clone()),
                                }
                            }
                        } else if let ListType::Set = list_type(names) {
                            let litems = lv.as_array_mut().unwrap();
                            for ai in av.as_array().unwrap() {
                                if !litems.contains(ai) {
                                    litems.push(ai.clone());
                                }
                            }
                        } else {
                            *lv = av.clone();
                        }
                    }
                    _ => {
                        lm.insert(k.clone(), av.clone());
                    }
                }
                names.pop();
            }
        }
        _ => *live = applied.clone(),
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
    pub fields: FieldSet,
}

pub fn read_managed(obj: &Value) -> Vec<Entry> {
    let mut out = vec![];
    for e in obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut fields = FieldSet::new();
        if let Some(f) = e.get("fieldsV1") {
            flatten(f, &mut vec![], &mut fields);
        }
        out.push(Entry {
            manager: s("manager"),
            operation: s("operation"),
            api_version: s("apiVersion"),
            subresource: s("subresource"),
            time: s("time"),
            fields,
        });
    }
    out
}

fn flatten(tree: &Value, path: &mut FieldPath, out: &mut FieldSet) {
    let Some(m) = tree.as_object() else { return };
    if m.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, v) in m {
        path.push(k.clone());
        flatten(v, path, out);
        path.pop();
    }
}

fn unflatten(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for p in fields {
        let mut cur = &mut root;
        for el in p {
            cur = cur
                .entry(el.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .unwrap();
        }
    }
    Value::Object(root)
}

pub fn write_managed(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": unflatten(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if list.is_empty() {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(list);
    }
}

fn subresource_of(scope: Scope) -> &'static str {
    match scope {
        Scope::Status => "status",
        Scope::Main { .. } => "",
    }
}

/// Records a non-apply write (create, update, patch): the fields it changed now belong to
/// `manager`, fields it removed belong to nobody.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    scope: Scope,
) {
    let mut entries = old.map(read_managed).unwrap_or_default();
    let old_fs = old.map(|o| fieldset(o, scope)).unwrap_or_default();
    let new_fs = fieldset(new, scope);
    let changed: FieldSet = new_fs
        .iter()
        .filter(|p| {
            p.last().map(String::as_str) == Some(".")
                || old.and_then(|o| value_at(o, p)) != value_at(new, p)
        })
        .filter(|p| {
            p.last().map(String::as_str) != Some(".") || old.and_then(|o| value_at(o, p)).is_none()
        })
        .cloned()
        .collect();
    let removed: FieldSet = old_fs.difference(&new_fs).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        write_managed(new, &entries);
        return;
    }
    for e in &mut entries {
        e.fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let sub = subresource_of(scope);
    match entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub)
    {
        Some(e) => {
            e.fields.extend(changed);
            e.time = now_rfc3339();
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            subresource: sub.to_string(),
            time: now_rfc3339(),
            fields: changed,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed(new, &entries);
}

#[derive(Debug)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: FieldPath,
}

/// `.spec.containers[name="x"].image`-style rendering, as conflict messages show fields.
pub fn render_path(path: &[String]) -> String {
    let mut s = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(k) {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{}={}", k, v)).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
        } else if let Some(v) = el.strip_prefix("v:") {
            s.push_str(&format!("[{}]", v));
        }
    }
    s
}

/// Server-side apply of `applied` onto `live` (None when the object does not exist yet).
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    scope: Scope,
) -> Result<Value, Vec<Conflict>> {
    let applied_fs = fieldset(applied, scope);
    let mut entries = live.map(read_managed).unwrap_or_default();
    let sub = subresource_of(scope);
    let is_mine =
        |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource == sub;
    let previous: FieldSet = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let mut conflicts = vec![];
    if let Some(live) = live {
        for e in entries
            .iter()
            .filter(|e| !is_mine(e) && e.subresource == sub)
        {
            for p in applied_fs.intersection(&e.fields) {
                if p.last().map(String::as_str) == Some(".") {
                    continue;
                }
                if value_at(live, p) != value_at(applied, p) {
                    conflicts.push(Conflict {
                        manager: e.manager.clone(),
                        api_version: e.api_version.clone(),
                        path: p.clone(),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let conflicting: FieldSet = conflicts.iter().map(|c| c.path.clone()).collect();
    for e in entries.iter_mut().filter(|e| !is_mine(e)) {
        e.fields.retain(|p| !conflicting.contains(p));
    }

    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    let mut body = applied.clone();
    // What the apply says about identity and status is not merged into the object.
    if let Some(m) = body.as_object_mut() {
        match scope {
            Scope::Main { has_status: true } => {
                m.remove("status");
            }
            Scope::Status => m.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind"),
            _ => {}
        }
    }
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in IGNORED_META {
            if *k != "name" && *k != "namespace" {
                meta.remove(*k);
            }
        }
    }
    merge_applied(&mut result, &body, &mut vec![]);

    // Drop what this manager applied before and no longer applies, unless someone else owns it.
    let others: FieldSet = entries
        .iter()
        .filter(|e| !is_mine(e))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let mut gone: Vec<&FieldPath> = previous
        .difference(&applied_fs)
        .filter(|p| !others.contains(*p))
        .collect();
    // Remove an item's fields before the item, deepest first.
    gone.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in gone {
        if p.last().map(String::as_str) == Some(".") {
            let prefix = &p[..p.len() - 1];
            let owned_inside = others.iter().any(|o| o.starts_with(prefix));
            if owned_inside {
                continue;
            }
        }
        remove_at(&mut result, p);
    }

    match entries.iter_mut().find(|e| is_mine(e)) {
        Some(e) => {
            e.fields = applied_fs;
            e.api_version = api_version.to_string();
            e.time = now_rfc3339();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            subresource: sub.to_string(),
            time: now_rfc3339(),
            fields: applied_fs,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    write_managed(&mut result, &entries);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main { has_status: false };

    #[test]
    fn apply_twice_is_stable_and_removal_works() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k1": "v1", "k2": "v2"}});
        let r1 = apply(None, &a, "m", "v1", false, MAIN).unwrap();
        let r2 = apply(Some(&r1), &a, "m", "v1", false, MAIN).unwrap();
        assert_eq!(r1["data"], r2["data"]);
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k1": "v1"}});
        let r3 = apply(Some(&r2), &b, "m", "v1", false, MAIN).unwrap();
        assert_eq!(r3["data"], json!({"k1": "v1"}));
        assert!(
            r3["metadata"]
                .get("labels")
                .is_none_or(|l| l.get("a").is_none())
        );
    }

    #[test]
    fn conflicts_with_other_manager_unless_forced() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}});
        let mut live = a.clone();
        record_update(None, &mut live, "kubectl-edit", "v1", MAIN);
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "w"}});
        let err = apply(Some(&live), &b, "me", "v1", false, MAIN).unwrap_err();
        assert_eq!(render_path(&err[0].path), ".data.k");
        let forced = apply(Some(&live), &b, "me", "v1", true, MAIN).unwrap();
        assert_eq!(forced["data"]["k"], json!("w"));
        // Same value: shared ownership, no conflict.
        assert!(apply(Some(&live), &a, "me", "v1", false, MAIN).is_ok());
    }

    #[test]
    fn keyed_lists_merge_by_name() {
        let a =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let live = apply(None, &a, "one", "apps/v1", false, MAIN).unwrap();
        let b =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}});
        let both = apply(Some(&live), &b, "two", "apps/v1", false, MAIN).unwrap();
        assert_eq!(
            both.pointer("/spec/template/spec/containers")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let none = json!({"spec": {"template": {"spec": {"containers": []}}}});
        let after = apply(Some(&both), &none, "one", "apps/v1", false, MAIN).unwrap();
        assert_eq!(
            after.pointer("/spec/template/spec/containers").unwrap(),
            &json!([{"name": "b", "image": "y"}])
        );
    }
}
