//! Who a token is for: every cluster gets its own audience, so a kubeconfig reaches exactly the
//! API server it was issued for — the host's `issuer.client_id`, or a vCluster's
//! `<provisioning.oidc.audience_prefix><tenant>` — and what a token may say about its holder.

use crate::config::Config;

/// The prefix Kubernetes reserves for its own users and groups (`system:masters` is superuser).
const RESERVED: &str = "system:";

/// The audience of the virtual API server of `tenant`: its `--oidc-client-id`.
pub fn vcluster(config: &Config, tenant: &str) -> String {
    format!("{}{tenant}", config.provisioning.oidc.audience_prefix)
}

/// The host API server's audience.
pub fn host(config: &Config) -> String {
    config.issuer.client_id.clone()
}

/// The audience of a kubeconfig `target` (`vcluster` or `host`) of `tenant`.
pub fn for_target(config: &Config, tenant: &str, target: &str) -> anyhow::Result<String> {
    match target {
        "vcluster" => Ok(vcluster(config, tenant)),
        "host" => Ok(host(config)),
        other => anyhow::bail!("no audience for the kubeconfig target {other:?}"),
    }
}

/// Whether an API server would treat `name` (a user or group) specially; such names never go
/// into a token, whatever the directory says.
pub fn is_reserved(name: &str) -> bool {
    name.get(..RESERVED.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(RESERVED))
}

/// `groups` without the reserved ones.
pub fn token_groups(groups: &[String]) -> Vec<String> {
    groups.iter().filter(|g| !is_reserved(g)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_recognised_in_any_case() {
        assert!(is_reserved("system:masters"));
        assert!(is_reserved("System:Masters"));
        assert!(is_reserved("system:"));
        assert!(!is_reserved("system"));
        assert!(!is_reserved("k8s-system:x"));
        assert!(!is_reserved("sys"));
        assert!(!is_reserved("ä"));
    }

    #[test]
    fn token_groups_drop_only_the_reserved() {
        let groups = vec![
            "system:masters".to_owned(),
            "k8s-admins".to_owned(),
            "SYSTEM:nodes".to_owned(),
        ];
        assert_eq!(token_groups(&groups), vec!["k8s-admins".to_owned()]);
    }
}
