//! The local stack's coordinates, from the `stack.env` that `dev/stack` writes.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;

pub struct Stack {
    vars: HashMap<String, String>,
    pg_override: Option<String>,
}

impl Stack {
    pub fn load() -> anyhow::Result<Stack> {
        let dir = std::env::var("TENANTRY_STACK_DIR")
            .unwrap_or_else(|_| "/var/lib/tenantry-stack".into());
        let path = PathBuf::from(dir).join("stack.env");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (start the stack with `dev/stack services`)",
                path.display()
            )
        })?;
        let vars = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Ok(Stack {
            vars,
            pg_override: std::env::var("BENCH_PG_URL").ok().filter(|v| !v.is_empty()),
        })
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("stack.env has no {key}"))
    }

    pub fn secret(&self, file_key: &str) -> anyhow::Result<String> {
        let path = self.var(file_key);
        Ok(std::fs::read_to_string(path)
            .with_context(|| format!("reading {path}"))?
            .trim_end()
            .to_owned())
    }

    /// The Postgres server holding the benchmark's databases: `BENCH_PG_URL` (dev/bench starts a
    /// private one), else the stack's.
    pub fn pg_url(&self) -> &str {
        self.pg_override
            .as_deref()
            .unwrap_or_else(|| self.var("PG_URL"))
    }

    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.var("STACK_CA"))
    }
}
