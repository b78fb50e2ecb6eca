//! Label and field selectors with the syntax and errors of k8s.io/apimachinery.

use serde_json::Value;

use crate::resources::ResourceDef;
use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<(String, Op)>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = vec![];
        for term in split_terms(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let bad = || {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector: {}",
                    term
                ))
            };
            let req = if let Some(k) = term.strip_prefix('!') {
                (check_key(k.trim()).map_err(|_| bad())?, Op::NotExists)
            } else if let Some((k, v)) = term.split_once("!=") {
                (
                    check_key(k.trim()).map_err(|_| bad())?,
                    Op::NotEq(check_value(v.trim()).map_err(|_| bad())?),
                )
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (
                    check_key(k.trim()).map_err(|_| bad())?,
                    Op::Eq(check_value(v.trim()).map_err(|_| bad())?),
                )
            } else if let Some((k, rest)) = split_word(term, " notin ") {
                (
                    check_key(k).map_err(|_| bad())?,
                    Op::NotIn(set(rest).ok_or_else(bad)?),
                )
            } else if let Some((k, rest)) = split_word(term, " in ") {
                (
                    check_key(k).map_err(|_| bad())?,
                    Op::In(set(rest).ok_or_else(bad)?),
                )
            } else if let Some((k, v)) = term.split_once('>') {
                (
                    check_key(k.trim()).map_err(|_| bad())?,
                    Op::Gt(v.trim().parse().map_err(|_| bad())?),
                )
            } else if let Some((k, v)) = term.split_once('<') {
                (
                    check_key(k.trim()).map_err(|_| bad())?,
                    Op::Lt(v.trim().parse().map_err(|_| bad())?),
                )
            } else {
                (check_key(term).map_err(|_| bad())?, Op::Exists)
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.0.iter().all(|(k, op)| {
            let v = labels.and_then(|l| l.get(k)).and_then(Value::as_str);
            match op {
                Op::Eq(x) => v == Some(x.as_str()),
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }

    /// A `metav1.LabelSelector` object (matchLabels + matchExpressions).
    pub fn from_object(sel: &Value) -> Option<Self> {
        let mut reqs = vec![];
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push((k.clone(), Op::Eq(v.as_str()?.to_string())));
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e.get("key")?.as_str()?.to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let op = match e.get("operator")?.as_str()? {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::NotExists,
                _ => return None,
            };
            reqs.push((key, op));
        }
        Some(LabelSelector(reqs))
    }
}

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn split_word<'a>(term: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    let i = term.find(word)?;
    Some((term[..i].trim(), term[i + word.len()..].trim()))
}

fn set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(|v| check_value(v.trim()).ok())
        .collect()
}

fn check_key(k: &str) -> Result<String, ()> {
    let name = k.rsplit('/').next().unwrap_or("");
    if k.is_empty()
        || name.is_empty()
        || name.len() > 63
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err(());
    }
    Ok(k.to_string())
}

fn check_value(v: &str) -> Result<String, ()> {
    if v.len() > 63
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(());
    }
    Ok(v.to_string())
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str, def: &ResourceDef) -> Result<Self, ApiError> {
        let mut reqs = vec![];
        for term in s.split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let (k, eq, v) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{}'; can't understand '{}'",
                    s, term
                )));
            };
            let k = k.trim();
            if k != "metadata.name"
                && k != "metadata.namespace"
                && !def.field_labels.iter().any(|f| f == k)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {}",
                    k
                )));
            }
            reqs.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, want)| {
            let ptr = format!("/{}", k.replace('.', "/"));
            let got = match obj.pointer(&ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            (got == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_syntax() {
        let labels = json!({"app": "web", "tier": "front", "n": "5"});
        let l = labels.as_object();
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier!=back", true),
            ("app in (web, api),tier notin (db)", true),
            ("app,!missing", true),
            ("n>3,n<10", true),
            ("app=api", false),
            ("missing", false),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(l), want, "{sel}");
        }
        assert!(LabelSelector::parse("a b c").is_err());
    }
}
