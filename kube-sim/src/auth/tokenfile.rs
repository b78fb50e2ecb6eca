//! `--token-auth-file`: CSV lines `token,user,uid,"group1,group2"`, as kube-apiserver reads them.

use std::collections::HashMap;

use anyhow::{Context, Result};

use super::UserInfo;

pub fn load(path: &std::path::Path) -> Result<HashMap<String, UserInfo>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_csv(line);
        if fields.len() < 3 {
            anyhow::bail!("{}:{}: need at least token,user,uid", path.display(), n + 1);
        }
        let groups = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            fields[0].clone(),
            UserInfo {
                username: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
                ..Default::default()
            },
        );
    }
    Ok(out)
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}
