//! The Helm values of a tenant's vCluster, in the shape its chart version expects.
//!
//! Charts before 0.20 (the seed's k3s setup) take `vcluster.extraArgs`, `syncer`, `ingress`;
//! 0.20 and later take `controlPlane.*` and `sync.toHost.*`. Both shapes carry the same
//! decisions: replicas, distro, datastore, Ingress sync, the API Ingress and the OIDC flags.

use serde_json::{Value, json};

use crate::config::{Datastore, TemplateConfig, VirtualApiOidcConfig};

/// Where the client certificate Secret is mounted inside the vCluster's pods.
pub const CERT_MOUNT: &str = "/var/lib/tenantry/mysql";

/// Everything the values depend on.
pub struct ValuesInput<'a> {
    pub template: &'a TemplateConfig,
    pub oidc: &'a VirtualApiOidcConfig,
    pub issuer_url: &'a str,
    /// This virtual API server's own audience (`--oidc-client-id`).
    pub audience: &'a str,
    pub api_host: &'a str,
    pub ingress_class: &'a str,
    /// `host:port` of MySQL as the vCluster reaches it.
    pub mysql_address: &'a str,
    /// Database and user name.
    pub database: &'a str,
    pub cert_secret: &'a str,
}

/// Whether `version` (like `0.19.7` or `v0.21.0`) is a chart from before the 0.20 rewrite.
pub fn is_legacy_chart(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major == 0 && minor < 20
}

/// The API server flags that make it trust the portal's OIDC issuer.
fn oidc_flags(input: &ValuesInput<'_>) -> Vec<(String, String)> {
    let oidc = input.oidc;
    let mut flags = vec![
        ("oidc-issuer-url".to_owned(), input.issuer_url.to_owned()),
        ("oidc-client-id".to_owned(), input.audience.to_owned()),
        (
            "oidc-username-claim".to_owned(),
            oidc.username_claim.clone(),
        ),
        (
            "oidc-username-prefix".to_owned(),
            oidc.username_prefix.clone(),
        ),
        ("oidc-groups-claim".to_owned(), oidc.groups_claim.clone()),
    ];
    if !oidc.groups_prefix.is_empty() {
        flags.push(("oidc-groups-prefix".to_owned(), oidc.groups_prefix.clone()));
    }
    flags
}

fn data_source(input: &ValuesInput<'_>) -> String {
    format!(
        "mysql://{db}@tcp({addr})/{db}",
        db = input.database,
        addr = input.mysql_address
    )
}

/// k3s's own flags: the API server flags wrapped in `--kube-apiserver-arg`, plus the datastore.
fn k3s_args(input: &ValuesInput<'_>) -> Vec<String> {
    let mut args: Vec<String> = oidc_flags(input)
        .into_iter()
        .map(|(k, v)| format!("--kube-apiserver-arg={k}={v}"))
        .collect();
    if input.template.datastore == Datastore::Mysql {
        args.push(format!("--datastore-endpoint={}", data_source(input)));
        args.push(format!("--datastore-cafile={CERT_MOUNT}/ca.crt"));
        args.push(format!("--datastore-certfile={CERT_MOUNT}/tls.crt"));
        args.push(format!("--datastore-keyfile={CERT_MOUNT}/tls.key"));
    }
    args
}

fn ingress_annotations() -> Value {
    json!({
        "nginx.ingress.kubernetes.io/ssl-passthrough": "true",
        "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
    })
}

fn cert_volume(input: &ValuesInput<'_>) -> (Value, Value) {
    (
        json!({ "name": "mysql-client-tls", "secret": { "secretName": input.cert_secret } }),
        json!({ "name": "mysql-client-tls", "mountPath": CERT_MOUNT, "readOnly": true }),
    )
}

pub fn render(input: &ValuesInput<'_>) -> Value {
    if is_legacy_chart(&input.template.chart_version) {
        legacy(input)
    } else {
        current(input)
    }
}

/// The 0.19-and-earlier k3s chart, as the seed deploys it.
fn legacy(input: &ValuesInput<'_>) -> Value {
    let mysql = input.template.datastore == Datastore::Mysql;
    let (volume, mount) = cert_volume(input);
    json!({
        "vcluster": {
            "extraArgs": k3s_args(input),
            "volumeMounts": if mysql { json!([mount]) } else { json!([]) },
        },
        "volumes": if mysql { json!([volume]) } else { json!([]) },
        "syncer": {
            "replicas": input.template.replicas,
            "extraArgs": [format!("--tls-san={}", input.api_host)],
        },
        "sync": { "ingresses": { "enabled": true } },
        "ingress": {
            "enabled": true,
            "host": input.api_host,
            "ingressClassName": input.ingress_class,
            "annotations": ingress_annotations(),
        },
    })
}

/// The 0.20+ chart (`distro` k3s or k8s; an external database is a licensed feature there).
fn current(input: &ValuesInput<'_>) -> Value {
    let mysql = input.template.datastore == Datastore::Mysql;
    let distro = if input.template.distro == "k8s" {
        let flags: Vec<String> = oidc_flags(input)
            .into_iter()
            .map(|(k, v)| format!("--{k}={v}"))
            .collect();
        json!({ "k8s": { "enabled": true, "apiServer": { "extraArgs": flags } } })
    } else {
        let args: Vec<String> = oidc_flags(input)
            .into_iter()
            .map(|(k, v)| format!("--kube-apiserver-arg={k}={v}"))
            .collect();
        json!({ "k3s": { "enabled": true, "extraArgs": args } })
    };
    let backing_store = if mysql {
        json!({ "database": { "external": {
            "enabled": true,
            "dataSource": data_source(input),
            "caFile": format!("{CERT_MOUNT}/ca.crt"),
            "certFile": format!("{CERT_MOUNT}/tls.crt"),
            "keyFile": format!("{CERT_MOUNT}/tls.key"),
        } } })
    } else if input.template.replicas > 1 {
        json!({ "etcd": { "embedded": { "enabled": true } } })
    } else {
        json!({ "database": { "embedded": { "enabled": true } } })
    };
    let (volume, mount) = cert_volume(input);
    json!({
        "controlPlane": {
            "distro": distro,
            "backingStore": backing_store,
            "statefulSet": {
                "highAvailability": { "replicas": input.template.replicas },
                "persistence": {
                    "addVolumes": if mysql { json!([volume]) } else { json!([]) },
                    "addVolumeMounts": if mysql { json!([mount]) } else { json!([]) },
                },
            },
            "ingress": {
                "enabled": true,
                "host": input.api_host,
                "spec": { "ingressClassName": input.ingress_class },
                "annotations": ingress_annotations(),
            },
            "proxy": { "extraSANs": [input.api_host] },
        },
        "sync": { "toHost": { "ingresses": { "enabled": true } } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QuotaConfig;

    fn template(chart: &str, distro: &str, datastore: Datastore, replicas: u32) -> TemplateConfig {
        TemplateConfig {
            description: String::new(),
            replicas,
            pod_disruption_budget: replicas > 1,
            quota: QuotaConfig {
                cpu: "1".into(),
                memory: "1Gi".into(),
                pods: 1,
                storage: "1Gi".into(),
            },
            distro: distro.into(),
            chart_version: chart.into(),
            datastore,
            host_access: crate::config::HostAccess::Operate,
        }
    }

    fn values(t: &TemplateConfig) -> Value {
        let oidc = VirtualApiOidcConfig::default();
        render(&ValuesInput {
            template: t,
            oidc: &oidc,
            issuer_url: "https://tenants.example.com",
            audience: "vcluster-tenant1",
            api_host: "tenant1.vcluster.example.com",
            ingress_class: "nginx",
            mysql_address: "mysql:3306",
            database: "vc_tenant1",
            cert_secret: "vcluster-mysql-client-tls",
        })
    }

    #[test]
    fn chart_versions_before_0_20_use_the_legacy_shape() {
        assert!(is_legacy_chart("0.19.7"));
        assert!(is_legacy_chart("v0.15.0"));
        assert!(!is_legacy_chart("0.20.0"));
        assert!(!is_legacy_chart("0.26.1"));
    }

    #[test]
    fn the_seeds_k3s_and_mysql_shape_carries_the_datastore_and_oidc_flags() {
        let v = values(&template("0.19.7", "k3s", Datastore::Mysql, 2));
        let args: Vec<&str> = v["vcluster"]["extraArgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--kube-apiserver-arg=oidc-issuer-url=https://tenants.example.com"));
        assert!(
            args.contains(&"--datastore-endpoint=mysql://vc_tenant1@tcp(mysql:3306)/vc_tenant1")
        );
        assert_eq!(v["syncer"]["replicas"], 2);
        assert_eq!(
            v["volumes"][0]["secret"]["secretName"],
            "vcluster-mysql-client-tls"
        );
        assert_eq!(v["sync"]["ingresses"]["enabled"], true);
        assert_eq!(
            v["ingress"]["annotations"]["nginx.ingress.kubernetes.io/ssl-passthrough"],
            "true"
        );
    }

    #[test]
    fn current_charts_with_k8s_and_an_embedded_store_need_no_database() {
        let v = values(&template("0.26.0", "k8s", Datastore::Embedded, 1));
        let flags = v["controlPlane"]["distro"]["k8s"]["apiServer"]["extraArgs"]
            .as_array()
            .unwrap();
        assert!(
            flags
                .iter()
                .any(|f| f == "--oidc-issuer-url=https://tenants.example.com")
        );
        assert_eq!(
            v["controlPlane"]["backingStore"]["database"]["embedded"]["enabled"],
            true
        );
        assert!(!v.to_string().contains("mysql://"));
        assert_eq!(v["sync"]["toHost"]["ingresses"]["enabled"], true);
    }

    #[test]
    fn highly_available_embedded_stores_use_etcd() {
        let v = values(&template("0.26.0", "k8s", Datastore::Embedded, 3));
        assert_eq!(
            v["controlPlane"]["backingStore"]["etcd"]["embedded"]["enabled"],
            true
        );
        assert_eq!(
            v["controlPlane"]["statefulSet"]["highAvailability"]["replicas"],
            3
        );
    }
}
