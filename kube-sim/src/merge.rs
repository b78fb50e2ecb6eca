//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch, the three
//! patch formats kube-apiserver accepts besides apply.

use serde_json::{Map, Value};

use crate::schema::{ListType, list_type};

pub fn json_merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
    json_patch::patch(target, &p).map_err(|e| e.to_string())
}

/// Applies a strategic merge patch the way k8s.io/apimachinery's strategicpatch does for the
/// built-in types: maps merge, lists with a merge key merge by it, `$patch`, `$retainKeys`,
/// `$deleteFromPrimitiveList` and `$setElementOrder` directives are honoured.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    smp(target, patch, &mut vec![])
}

fn smp(target: &mut Value, patch: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Some(pm) = patch.as_object() else {
        *target = patch.clone();
        return Ok(());
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(strip_directives(pm));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {}", other)),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut orders: Vec<(String, Vec<Value>)> = vec![];
    for (k, pv) in pm {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((
                field.to_string(),
                pv.as_array().cloned().unwrap_or_default(),
            ));
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = pv.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = target.get_mut(field) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        let tm = target.as_object_mut().unwrap();
        if pv.is_null() {
            tm.remove(k);
            continue;
        }
        path.push(k.clone());
        match pv {
            Value::Array(items) => {
                let merged = merge_list(tm.get(k), items, path)?;
                tm.insert(k.clone(), merged);
            }
            Value::Object(_) => {
                let entry = tm.entry(k.clone()).or_insert(Value::Object(Map::new()));
                smp(entry, pv, path)?;
            }
            _ => {
                tm.insert(k.clone(), pv.clone());
            }
        }
        path.pop();
    }
    if let Some(Value::Array(keep)) = pm.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target
            .as_object_mut()
            .unwrap()
            .retain(|k, _| keep.contains(&k.as_str()));
    }
    for (field, order) in orders {
        reorder(target, &field, &order, path);
    }
    Ok(())
}

fn strip_directives(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_list(
    current: Option<&Value>,
    items: &[Value],
    path: &mut Vec<String>,
) -> Result<Value, String> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    let mut out: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match list_type(path) {
        ListType::Atomic => return Ok(Value::Array(items.to_vec())),
        ListType::Set => {
            for i in items {
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
        }
        ListType::Map(keys) => {
            let key = keys[0];
            for item in items {
                let Some(id) = item.get(key) else {
                    return Err(format!(
                        "map: {:?} does not contain declared merge key: {}",
                        item, key
                    ));
                };
                let pos = out.iter().position(|o| o.get(key) == Some(id));
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(p) = pos {
                        out.remove(p);
                    }
                    continue;
                }
                match pos {
                    Some(p) => smp(&mut out[p], item, path)?,
                    None => {
                        let mut fresh = Value::Object(Map::new());
                        smp(&mut fresh, item, path)?;
                        out.push(fresh);
                    }
                }
            }
        }
    }
    Ok(Value::Array(out))
}

fn reorder(target: &mut Value, field: &str, order: &[Value], path: &mut Vec<String>) {
    path.push(field.to_string());
    let lt = list_type(path);
    path.pop();
    let Some(Value::Array(items)) = target.get_mut(field) else {
        return;
    };
    let pos_of = |item: &Value| -> usize {
        let found = match &lt {
            ListType::Map(keys) => order
                .iter()
                .position(|o| o.get(keys[0]) == item.get(keys[0])),
            _ => order.iter().position(|o| o == item),
        };
        found.unwrap_or(usize::MAX)
    };
    items.sort_by_key(pos_of);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}, "metadata": {"finalizers": ["f1"]}});
        strategic_merge_patch(
            &mut pod,
            &json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}, "metadata": {"finalizers": ["f2"], "labels": {"l": "v"}}}),
        )
        .unwrap();
        assert_eq!(
            pod["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
        );
        assert_eq!(pod["metadata"]["finalizers"], json!(["f1", "f2"]));
        strategic_merge_patch(&mut pod, &json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}, "metadata": {"labels": {"l": null}}})).unwrap();
        assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 2);
        assert_eq!(pod["metadata"]["labels"], json!({}));
    }
}
