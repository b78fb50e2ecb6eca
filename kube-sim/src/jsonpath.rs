//! The subset of kubectl's JSONPath that printer columns use: `.a.b`, `[n]`, `[*]` and
//! `[?(@.field=="value")]`.

use serde_json::Value;

pub fn first(obj: &Value, path: &str) -> Option<Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut current = vec![obj.clone()];
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            current = current.iter().filter_map(|v| v.get(key).cloned()).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            // A filter may itself contain ']' inside quotes; find the matching ")]".
            let (inner, after) = if r.starts_with("?(") {
                let close = r.find(")]")?;
                (&r[..close + 1], &r[close + 2..])
            } else {
                (&r[..end], &r[end + 1..])
            };
            current = apply_bracket(&current, inner);
            rest = after;
        } else {
            return None;
        }
    }
    current.into_iter().next()
}

fn apply_bracket(current: &[Value], inner: &str) -> Vec<Value> {
    let items = || current.iter().filter_map(Value::as_array).flatten();
    if inner == "*" {
        return items().cloned().collect();
    }
    if let Ok(i) = inner.parse::<usize>() {
        return current.iter().filter_map(|v| v.get(i).cloned()).collect();
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')'))
        && let Some((lhs, rhs)) = f.split_once("==")
    {
        {
            let field = lhs.trim().trim_start_matches("@.");
            let want = rhs.trim().trim_matches('"').trim_matches('\'');
            return items()
                .filter(|item| {
                    item.pointer(&format!("/{}", field.replace('.', "/")))
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                                == want
                        })
                        .unwrap_or(false)
                })
                .cloned()
                .collect();
        }
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        let key = inner.trim_matches('\'').trim_matches('"');
        return current.iter().filter_map(|v| v.get(key).cloned()).collect();
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_conditions() {
        let o = json!({"status": {"conditions": [{"type": "Issuing", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(
            first(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(
            first(&o, ".status.conditions[0].type"),
            Some(json!("Issuing"))
        );
        assert_eq!(first(&o, ".spec.x"), None);
    }
}
