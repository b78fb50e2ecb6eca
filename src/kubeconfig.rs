//! Kubeconfigs for people: a file, and the same as `kubectl config` commands for bash/zsh and
//! PowerShell. Credentials use kubectl's built-in `oidc` auth provider, which refreshes the
//! id_token through Tenantry's token endpoint and writes the rotated refresh token back.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Everything one kubeconfig holds.
pub struct Kubeconfig<'a> {
    /// Cluster, user and context names derive from it.
    pub name: &'a str,
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub namespace: Option<&'a str>,
    pub username: &'a str,
    pub issuer_url: &'a str,
    pub client_id: &'a str,
    pub id_token: &'a str,
    pub refresh_token: &'a str,
}

impl Kubeconfig<'_> {
    fn user(&self) -> String {
        format!("{}@{}", self.username, self.name)
    }

    /// The kubeconfig file. Every scalar is written as a JSON string, which YAML reads as is.
    pub fn yaml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
        let namespace = self
            .namespace
            .map(|ns| format!("\n    namespace: {}", q(ns)))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
             users:\n- name: {user}\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        idp-issuer-url: {issuer}\n        client-id: {client}\n        id-token: {id}\n        refresh-token: {refresh}\n\
             contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {user}{namespace}\ncurrent-context: {name}\n",
            name = q(self.name),
            server = q(self.server),
            ca = q(&STANDARD.encode(self.ca_pem.as_bytes())),
            user = q(&self.user()),
            issuer = q(self.issuer_url),
            client = q(self.client_id),
            id = q(self.id_token),
            refresh = q(self.refresh_token),
        )
    }

    /// The commands for bash and zsh: the CA goes to a file, then `kubectl config` does the rest.
    pub fn bash(&self) -> String {
        let ca_file = format!("$HOME/.kube/tenantry/{}-ca.crt", self.name);
        let mut out = String::from("mkdir -p \"$HOME/.kube/tenantry\"\n");
        out.push_str(&format!(
            "cat > \"{ca_file}\" <<'TENANTRY_CA'\n{}\nTENANTRY_CA\n",
            self.ca_pem.trim_end()
        ));
        for args in self.kubectl_args() {
            let line: Vec<String> = args
                .iter()
                .map(|a| match a {
                    Arg::Plain(s) => bash_quote(s),
                    Arg::CaFile(flag) => format!("{flag}=\"{ca_file}\""),
                })
                .collect();
            out.push_str(&format!("kubectl {}\n", line.join(" ")));
        }
        out
    }

    /// The same for PowerShell.
    pub fn powershell(&self) -> String {
        let ca_file = format!("$HOME\\.kube\\tenantry\\{}-ca.crt", self.name);
        let mut out = String::from(
            "New-Item -ItemType Directory -Force -Path \"$HOME\\.kube\\tenantry\" | Out-Null\n",
        );
        out.push_str(&format!(
            "@'\n{}\n'@ | Set-Content -Encoding ascii -Path \"{ca_file}\"\n",
            self.ca_pem.trim_end()
        ));
        for args in self.kubectl_args() {
            let line: Vec<String> = args
                .iter()
                .map(|a| match a {
                    Arg::Plain(s) => pwsh_quote(s),
                    Arg::CaFile(flag) => format!("{flag}=\"{ca_file}\""),
                })
                .collect();
            out.push_str(&format!("kubectl {}\n", line.join(" ")));
        }
        out
    }

    fn kubectl_args(&self) -> Vec<Vec<Arg>> {
        let p = |s: String| Arg::Plain(s);
        let user = self.user();
        let mut context = vec![
            p("config".into()),
            p("set-context".into()),
            p(self.name.into()),
            p(format!("--cluster={}", self.name)),
            p(format!("--user={user}")),
        ];
        if let Some(ns) = self.namespace {
            context.push(p(format!("--namespace={ns}")));
        }
        vec![
            vec![
                p("config".into()),
                p("set-cluster".into()),
                p(self.name.into()),
                p(format!("--server={}", self.server)),
                Arg::CaFile("--certificate-authority"),
                p("--embed-certs=true".into()),
            ],
            vec![
                p("config".into()),
                p("set-credentials".into()),
                p(user.clone()),
                p("--auth-provider=oidc".into()),
                p(format!(
                    "--auth-provider-arg=idp-issuer-url={}",
                    self.issuer_url
                )),
                p(format!("--auth-provider-arg=client-id={}", self.client_id)),
                p(format!("--auth-provider-arg=id-token={}", self.id_token)),
                p(format!(
                    "--auth-provider-arg=refresh-token={}",
                    self.refresh_token
                )),
            ],
            context,
            vec![
                p("config".into()),
                p("use-context".into()),
                p(self.name.into()),
            ],
        ]
    }
}

enum Arg {
    Plain(String),
    /// `--flag="<path of the CA file>"`, quoted so the shell expands `$HOME`.
    CaFile(&'static str),
}

/// Quotes for bash/zsh: bare when safe, else single quotes with `'` as `'\''`.
pub fn bash_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/=@%+".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes for PowerShell: single quotes with `'` doubled (also the typographic quotes it treats
/// as quotes).
pub fn pwsh_quote(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| match c {
            '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => vec![c, c],
            c => vec![c],
        })
        .collect();
    format!("'{escaped}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_apostrophes_and_spaces_literal() {
        assert_eq!(bash_quote("o'brien"), r"'o'\''brien'");
        assert_eq!(bash_quote("--user=jjackson@t1"), "--user=jjackson@t1");
        assert_eq!(bash_quote("a b$c"), "'a b$c'");
        assert_eq!(pwsh_quote("o'brien"), "'o''brien'");
        assert_eq!(pwsh_quote("a$b"), "'a$b'");
    }
}
