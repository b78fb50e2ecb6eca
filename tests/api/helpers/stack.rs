//! The local stack's coordinates, read from the `stack.env` file that `dev/stack` writes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

pub struct Stack {
    vars: HashMap<String, String>,
}

impl Stack {
    /// The running stack. Panics with the command to run when it is not there.
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| {
            let dir = std::env::var("TENANTRY_STACK_DIR")
                .unwrap_or_else(|_| "/var/lib/tenantry-stack".into());
            let path = PathBuf::from(&dir).join("stack.env");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{} is unreadable ({e}): start the local stack with `dev/stack services`",
                    path.display()
                )
            });
            let vars = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                .collect();
            Stack { vars }
        })
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("stack.env has no {key}"))
    }

    /// Samba AD's LDAPS address, for a proxy in front of it.
    pub fn ldaps_addr(&self) -> std::net::SocketAddr {
        let url = url::Url::parse(self.var("LDAPS_URL")).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(636))
            .parse()
            .unwrap()
    }

    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.var(key))
    }

    pub fn secret(&self, file_key: &str) -> String {
        let path = self.path(file_key);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            .trim_end()
            .to_owned()
    }

    pub fn pg_url(&self) -> &str {
        self.var("PG_URL")
    }

    pub fn ca(&self) -> PathBuf {
        self.path("STACK_CA")
    }
}
