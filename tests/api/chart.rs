//! The Helm chart (charts/tenantry), checked with the real Helm 4 and kubectl binaries, the
//! Kubernetes OpenAPI schemas of every minor from 1.30 to the newest kubernetes-validate
//! carries, a second JSON Schema implementation for values.schema.json, the API simulator (a
//! server-side dry-run apply), and the portal's own config loader for the rendered config.toml.
//! docs/chart-verification.md says what this proves and what it does not.

mod docs;
mod guide_grants;
mod image;
mod tools;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::Stack;
use tools::{
    all_options, chart, config_toml, helm, named, of_kind, render, render_in, temp_file, text,
    validate_manifests, validate_servicemonitors, validate_values,
};

/// The rules of the chart's ClusterRole as rendered with default values: what the portal may do
/// on the host cluster. For tests that bind a ServiceAccount to exactly these rules.
pub fn cluster_role_rules() -> Vec<Value> {
    let validation = validate_manifests(&render(&[], &[]));
    let role = named(&validation.documents, "ClusterRole", "tenantry");
    role["rules"].as_array().cloned().expect("rules")
}

/// Each secret the portal reads: (values key under `secrets`, config key, file name).
const SECRETS: &[(&str, &str, &str)] = &[
    ("databaseUrl", "database.url", "database-url"),
    (
        "oidcClientSecret",
        "oidc.client_secret",
        "oidc-client-secret",
    ),
    (
        "ldapBindPassword",
        "ldap.bind_password",
        "ldap-bind-password",
    ),
    ("vaultToken", "vault.token", "vault-token"),
    (
        "mysqlAdminPassword",
        "mysql.admin_password",
        "mysql-admin-password",
    ),
    ("smtpPassword", "smtp.password", "smtp-password"),
    (
        "issuerSigningKey",
        "issuer.signing_key",
        "issuer-signing-key.pem",
    ),
];

/// The environment a Kubernetes Secret would give the portal, so `load_str` never reads files.
fn secret_env() -> HashMap<String, String> {
    SECRETS
        .iter()
        .map(|(_, key, _)| {
            let name = format!("TENANTRY__{}", key.replace('.', "__").to_uppercase());
            let value = if *key == "database.url" {
                "postgres://tenantry:pw@postgres.example.com:5432/tenantry".to_owned()
            } else {
                format!("value-of-{key}")
            };
            (name, value)
        })
        .collect()
}

fn lookup<'a>(tree: &'a toml::Value, dotted: &str) -> Option<&'a toml::Value> {
    dotted
        .split('.')
        .try_fold(tree, |node, part| node.get(part))
}

#[test]
fn helm_lints_the_chart_strictly_with_default_and_all_options_values() {
    let chart = chart();
    for extra in [vec![], vec!["--values", all_options().to_str().unwrap()]] {
        let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let out = helm(&args);
        assert!(out.status.success(), "helm {args:?}:\n{}", text(&out));
        assert!(text(&out).contains("0 chart(s) failed"), "{}", text(&out));
    }
}

#[test]
fn default_values_render_documents_valid_for_every_current_kubernetes_version() {
    let validation = validate_manifests(&render(&[], &[]));
    assert!(
        validation.versions.len() >= 6 && validation.versions.iter().any(|v| v.starts_with("1.35")),
        "validated against {:?}",
        validation.versions
    );
    assert!(validation.errors.is_empty(), "{:#?}", validation.errors);
    assert!(
        validation.unvalidated.is_empty(),
        "{:#?}",
        validation.unvalidated
    );
    let kinds: BTreeSet<String> = validation
        .documents
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        "ClusterRole/tenantry",
        "ClusterRole/tenantry-tenant-host",
        "ClusterRoleBinding/tenantry",
        "ConfigMap/tenantry",
        "ConfigMap/tenantry-migrate",
        "Deployment/tenantry",
        "Job/tenantry-migrate",
        "PodDisruptionBudget/tenantry",
        "Service/tenantry",
        "Service/tenantry-metrics",
        "ServiceAccount/tenantry",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(kinds, expected);
}

#[test]
fn all_options_render_documents_valid_for_every_current_kubernetes_version() {
    let validation = validate_manifests(&render(&[&all_options()], &[]));
    assert!(validation.errors.is_empty(), "{:#?}", validation.errors);
    // The one custom resource: no Kubernetes schema covers it, the prometheus-operator CRD's does.
    let unvalidated: Vec<&str> = validation
        .unvalidated
        .iter()
        .map(|u| u["object"].as_str().unwrap())
        .collect();
    assert_eq!(unvalidated, ["ServiceMonitor/portal"]);
    let monitors = of_kind(&validation.documents, "ServiceMonitor");
    assert_eq!(
        validate_servicemonitors(&monitors),
        vec![Vec::<String>::new()]
    );
    // …and that check is not vacuous.
    let mut broken = monitors[0].clone();
    broken["spec"]["endpoints"][0]["interval"] = json!("15 seconds");
    broken["spec"]["endpoints"][0]["port"] = json!(8080);
    let errors = validate_servicemonitors(&[&broken]).remove(0);
    assert!(errors.iter().any(|e| e.contains("interval")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("port")), "{errors:?}");
    for (kind, count) in [
        ("Deployment", 2),
        ("PodDisruptionBudget", 2),
        ("Ingress", 1),
        ("NetworkPolicy", 1),
        ("ServiceMonitor", 1),
    ] {
        assert_eq!(of_kind(&validation.documents, kind).len(), count, "{kind}");
    }
}

#[test]
fn the_kubernetes_schema_check_catches_a_misspelt_field_and_a_wrong_type() {
    // The negative control: the validator is not vacuous.
    let validation = validate_manifests(&render(&[], &[]));
    let mut deployment = named(&validation.documents, "Deployment", "tenantry").clone();
    deployment["spec"]["replicaz"] = json!(2);
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = json!("root");
    let report = validate_manifests(&deployment.to_string());
    let paths: BTreeSet<&str> = report
        .errors
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains("spec"), "{:#?}", report.errors);
    assert!(
        paths.contains("spec.template.spec.securityContext.runAsUser"),
        "{:#?}",
        report.errors
    );
}

#[test]
fn values_files_are_checked_against_the_schema_by_helm_and_by_a_second_validator() {
    let (meta, files) = validate_values(&[&chart().join("values.yaml"), &all_options()]);
    assert!(
        meta.is_empty(),
        "values.schema.json is not a valid draft-07 schema: {meta:#?}"
    );
    for (file, errors) in &files {
        assert_eq!(errors.as_array().unwrap().len(), 0, "{file}: {errors:#?}");
    }
}

#[test]
fn bad_values_are_rejected_with_the_offending_path() {
    let cases = [
        ("replicaCount: two\n", "/replicaCount"),
        ("replicaCount: 0\n", "/replicaCount"),
        ("bogus: true\n", "bogus"),
        ("ingress:\n  enabled: yes-please\n", "/ingress/enabled"),
        ("ingress:\n  hosts: [a.example.com]\n", "hosts"),
        ("podAntiAffinity: sometimes\n", "/podAntiAffinity"),
        (
            "secrets:\n  databaseUrl:\n    value: postgres://u:pw@db/x\n",
            "/secrets/databaseUrl",
        ),
        (
            "secrets:\n  vaultToken: hvs.literal\n",
            "/secrets/vaultToken",
        ),
        (
            "config:\n  database:\n    url: postgres://u:pw@db/x\n",
            "/config/database/url",
        ),
        (
            "config:\n  oidc:\n    client_secret: s3cret\n",
            "/config/oidc/client_secret",
        ),
        (
            "config:\n  server:\n    listen: 0.0.0.0:9\n",
            "/config/server/listen",
        ),
        (
            "config:\n  server:\n    metrics_listen: 0.0.0.0:9\n",
            "/config/server/metrics_listen",
        ),
        (
            "config:\n  rate_limits:\n    sign_in:\n      per_minute: 0\n      burst: 5\n",
            "/config/rate_limits/sign_in/per_minute",
        ),
        (
            "config:\n  ldap:\n    pool_size: \"4\"\n",
            "/config/ldap/pool_size",
        ),
        (
            "config:\n  smtp:\n    security: ssl\n",
            "/config/smtp/security",
        ),
        (
            "config:\n  sessions:\n    idle_timeout: forever\n",
            "/config/sessions/idle_timeout",
        ),
        (
            "extraEnv:\n  - name: TENANTRY__VAULT__TOKEN\n    value: hvs.literal\n",
            "/extraEnv/0",
        ),
        ("image:\n  digest: latest\n", "/image/digest"),
    ];
    for (values, path) in cases {
        let (_dir, file) = temp_file("bad-values.yaml", values);
        let error = render_in("tenantry", &[&file], &[]).expect_err(values);
        assert!(
            error.contains("values don't meet the specifications of the schema"),
            "{values}: {error}"
        );
        assert!(
            error.contains(path),
            "{values}: expected {path} in\n{error}"
        );
        let (_, verdicts) = validate_values(&[&file]);
        let errors = verdicts.values().next().unwrap().as_array().unwrap();
        assert!(!errors.is_empty(), "the second validator accepted {values}");
    }
}

#[test]
fn the_rendered_config_is_one_the_portal_loads() {
    for files in [vec![], vec![all_options()]] {
        let files: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
        let validation = validate_manifests(&render(&files, &[]));
        let name = if files.is_empty() {
            "tenantry"
        } else {
            "portal"
        };
        for configmap in [name.to_owned(), format!("{name}-migrate")] {
            let text = config_toml(&validation.documents, &configmap);
            let config = tenantry::config::load_str(&text, &secret_env())
                .unwrap_or_else(|e| panic!("{configmap}: {e}\n{text}"));
            assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
            let metrics_port = if files.is_empty() { 9464 } else { 9100 };
            assert_eq!(
                config.server.metrics_listen.to_string(),
                format!("0.0.0.0:{metrics_port}")
            );
            assert_eq!(
                config.server.external_url.as_str(),
                "https://tenants.example.com/"
            );
        }
    }
}

#[test]
fn every_key_of_the_example_config_passes_through_the_chart_unchanged() {
    let example_text = std::fs::read_to_string(tools::repo().join("config/example.toml")).unwrap();
    let mut example: toml::Value = toml::from_str(&example_text).unwrap();
    // The chart owns the secret files and the listen address: take them out of the values.
    let mut owned = vec![
        "server.listen".to_owned(),
        "server.metrics_listen".to_owned(),
        "issuer.previous_key_files".to_owned(),
    ];
    owned.extend(SECRETS.iter().map(|(_, key, _)| format!("{key}_file")));
    for key in &owned {
        let (section, name) = key.split_once('.').unwrap();
        if let Some(table) = example.get_mut(section).and_then(toml::Value::as_table_mut) {
            table.remove(name);
        }
    }
    let values = json!({ "config": example });
    let (_dir, file) = temp_file("example-values.json", &values.to_string());
    let rendered = render_in("tenantry", &[&file], &[]).unwrap_or_else(|e| panic!("{e}"));
    let validation = validate_manifests(&rendered);
    let text = config_toml(&validation.documents, "tenantry");
    let back: toml::Value = toml::from_str(&text).unwrap();
    for (section, table) in example.as_table().unwrap() {
        for (key, value) in table.as_table().unwrap() {
            let dotted = format!("{section}.{key}");
            assert_eq!(
                lookup(&back, &dotted),
                Some(value),
                "{dotted} changed on its way through the chart:\n{text}"
            );
        }
    }
    tenantry::config::load_str(&text, &secret_env()).unwrap_or_else(|e| panic!("{e}\n{text}"));
}

#[test]
fn secrets_reach_the_pods_only_as_files_from_existing_secrets() {
    for files in [vec![], vec![all_options()]] {
        let files: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
        let rendered = render(&files, &[]);
        let validation = validate_manifests(&rendered);
        assert!(
            of_kind(&validation.documents, "Secret").is_empty(),
            "the chart must not create Secrets"
        );
        let config: toml::Value = {
            let name = if files.is_empty() {
                "tenantry"
            } else {
                "portal"
            };
            toml::from_str(&config_toml(&validation.documents, name)).unwrap()
        };
        for doc in validation
            .documents
            .iter()
            .filter(|d| ["Deployment", "Job"].contains(&d["kind"].as_str().unwrap()))
        {
            let pod = &doc["spec"]["template"]["spec"];
            let projected = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "secrets")
                .expect("a secrets volume");
            let mut paths = BTreeSet::new();
            for source in projected["projected"]["sources"].as_array().unwrap() {
                assert!(source["secret"]["name"].is_string(), "{source}");
                for item in source["secret"]["items"].as_array().unwrap() {
                    paths.insert(item["path"].as_str().unwrap().to_owned());
                }
            }
            for (_, key, file) in SECRETS {
                let configured =
                    lookup(&config, &format!("{key}_file")).and_then(toml::Value::as_str);
                match configured {
                    Some(path) => {
                        assert_eq!(path, format!("/var/run/secrets/tenantry/{file}"));
                        assert!(paths.contains(*file), "{key}: {file} is not mounted");
                    }
                    None => assert_eq!(*key, "smtp.password", "{key} is not configured"),
                }
                assert!(lookup(&config, key).is_none(), "{key} written inline");
            }
            let previous =
                lookup(&config, "issuer.previous_key_files").and_then(toml::Value::as_array);
            for (i, path) in previous.into_iter().flatten().enumerate() {
                assert_eq!(
                    path.as_str().unwrap(),
                    format!("/var/run/secrets/tenantry/issuer-previous-{i}.pem")
                );
                assert!(
                    paths.contains(&format!("issuer-previous-{i}.pem")),
                    "previous key {i} is not mounted"
                );
            }
            assert_eq!(
                previous.map_or(0, Vec::len),
                if files.is_empty() { 0 } else { 1 }
            );
            let container = &pod["containers"][0];
            let mount = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == "secrets")
                .unwrap();
            assert_eq!(mount["mountPath"], "/var/run/secrets/tenantry");
            assert_eq!(mount["readOnly"], true);
            for env in container["env"].as_array().unwrap() {
                let name = env["name"].as_str().unwrap();
                let secretish = SECRETS.iter().any(|(_, key, _)| {
                    name == format!("TENANTRY__{}", key.replace('.', "__").to_uppercase())
                });
                assert!(
                    !(secretish && env.get("value").is_some()),
                    "{name} carries a literal"
                );
            }
        }
    }
}

/// Lines that look like a secret written down: a private key, credentials in a URL, or a
/// password/token/secret key with a literal value.
fn secret_literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with('#') || code.starts_with("{{/*") {
            continue;
        }
        let lower = code.to_lowercase();
        let private_key = lower.contains("-----begin") && lower.contains("private key");
        let url_credentials = [
            "postgres://",
            "postgresql://",
            "mysql://",
            "ldap://",
            "ldaps://",
            "smtp://",
            "https://",
            "http://",
        ]
        .iter()
        .any(|scheme| {
            lower.split(scheme).skip(1).any(|rest| {
                let authority = rest.split(['/', ' ', '"', '\'']).next().unwrap_or("");
                authority.contains('@') && authority.split('@').next().unwrap().contains(':')
            })
        });
        let vault_token = ["hvs.", "s.", "hvb."].iter().any(|p| {
            lower
                .split([' ', '"', '\'', ':', '='])
                .any(|w| w.starts_with(p) && w.len() > 20)
        });
        // Keys that carry a secret value (a `secret:` key names a Secret, which is fine).
        let keyed = lower.split_once(':').is_some_and(|(key, value)| {
            let key = key.trim().trim_start_matches("- ").trim_matches('"');
            let value = value.trim().trim_matches('"');
            ([
                "password",
                "passwd",
                "token",
                "apikey",
                "api_key",
                "client_secret",
                "private_key",
                "secret_key",
                "access_key",
            ]
            .contains(&key)
                || ["_password", "_token", "_secret", "-password", "-token"]
                    .iter()
                    .any(|k| key.ends_with(k)))
                && !value.is_empty()
                && !value.starts_with("{{")
                && !value.starts_with('{')
                && value != "null"
                && value != "|"
        });
        let data_section = lower == "stringdata:" || lower == "kind: secret";
        if private_key || url_credentials || vault_token || keyed || data_section {
            found.push(format!("{}: {line}", n + 1));
        }
    }
    found
}

#[test]
fn no_template_or_values_file_holds_a_secret_literal() {
    let chart = chart();
    let mut files = vec![
        chart.join("values.yaml"),
        chart.join("Chart.yaml"),
        chart.join("values.schema.json"),
    ];
    for dir in ["templates", "ci"] {
        for entry in std::fs::read_dir(chart.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    let mut findings = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for hit in secret_literals(&text) {
            findings.push(format!("{}:{hit}", file.display()));
        }
    }
    assert!(
        findings.is_empty(),
        "secret-looking literals:\n{}",
        findings.join("\n")
    );
    // The check itself catches what it is for.
    for planted in [
        "password: hunter2",
        "  client_secret: \"abc\"",
        "url: postgres://tenantry:pw@db:5432/tenantry",
        "-----BEGIN RSA PRIVATE KEY-----",
        "token: hvs.CAESIJlWh0ZzL1x2rV3gQk9b4Yt2",
        "stringData:",
    ] {
        assert_eq!(secret_literals(planted).len(), 1, "missed {planted}");
    }
}

#[test]
fn the_deployment_stays_available_spread_probed_and_restricted() {
    let validation = validate_manifests(&render(&[], &[]));
    let deployment = named(&validation.documents, "Deployment", "tenantry");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(
        spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
        "an update must never drop a ready pod"
    );
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxSurge"], 1);
    let pod = &spec["template"]["spec"];
    let anti =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        anti["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["args"], json!(["serve", "--no-migrate"]));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["startupProbe"]["httpGet"]["path"], "/healthz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    let pdb = named(&validation.documents, "PodDisruptionBudget", "tenantry");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(pdb["spec"]["selector"], spec["selector"]);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > 20,
        "the grace period must outlast server.shutdown_grace"
    );
}

#[test]
fn migrations_run_in_a_hook_job_before_any_new_pod() {
    let validation = validate_manifests(&render(&[&all_options()], &[]));
    let job = named(&validation.documents, "Job", "portal-migrate");
    let hooks = job["metadata"]["annotations"]["helm.sh/hook"]
        .as_str()
        .unwrap();
    assert_eq!(hooks, "pre-install,pre-upgrade");
    let configmap = named(&validation.documents, "ConfigMap", "portal-migrate");
    assert_eq!(configmap["metadata"]["annotations"]["helm.sh/hook"], hooks);
    let weight = |d: &Value| {
        d["metadata"]["annotations"]["helm.sh/hook-weight"]
            .as_str()
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    assert!(
        weight(configmap) < weight(job),
        "the hook's ConfigMap must exist before its Job"
    );
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["args"], json!(["migrate"]));
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "portal-migrate");
    assert_eq!(
        named(&validation.documents, "ConfigMap", "portal")["data"],
        configmap["data"]
    );
    let args = |name: &str| {
        named(&validation.documents, "Deployment", name)["spec"]["template"]["spec"]["containers"]
            [0]["args"]
            .clone()
    };
    assert_eq!(
        args("portal"),
        json!(["serve", "--no-migrate", "--web-only"])
    );
    assert_eq!(
        args("portal-workers"),
        json!(["serve", "--no-migrate", "--workers-only"])
    );
}

#[test]
fn the_cluster_role_is_least_privilege_and_every_rule_says_why() {
    let rendered = render(&[], &[]);
    let rules = cluster_role_rules();
    for rule in &rules {
        let list = |key: &str| -> Vec<&str> {
            rule[key]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
                .unwrap_or_default()
        };
        let (groups, resources, verbs, names) = (
            list("apiGroups"),
            list("resources"),
            list("verbs"),
            list("resourceNames"),
        );
        assert!(
            ![&groups, &resources, &verbs]
                .iter()
                .any(|l| l.contains(&"*")),
            "wildcard in {rule}"
        );
        for verb in ["escalate", "impersonate"] {
            assert!(!verbs.contains(&verb), "{verb} in {rule}");
        }
        if verbs.contains(&"bind") {
            assert_eq!(resources, ["clusterroles"], "{rule}");
            assert_eq!(
                names,
                ["admin", "view", "tenantry-tenant-host"],
                "bind must be limited to the roles provisioning hands out: {rule}"
            );
            assert_eq!(verbs, ["bind"], "{rule}");
        }
        assert!(
            !resources.contains(&"serviceaccounts/token"),
            "TokenRequest cluster-wide mints any token: {rule}"
        );
        if resources.contains(&"secrets") {
            assert!(
                !verbs.contains(&"list") && !verbs.contains(&"watch"),
                "secrets are read by name only: {rule}"
            );
        }
        for resource in &resources {
            assert!(
                !["roles", "clusterroles", "clusterrolebindings"].contains(resource)
                    || verbs == ["bind"],
                "the portal must not edit roles: {rule}"
            );
        }
    }
    // Exactly these permissions, besides `bind`: what the provisioning steps call (see
    // templates/clusterrole.yaml); a new one must be added here with its reason there.
    let mut granted = BTreeSet::new();
    for rule in rules.iter().filter(|r| r["verbs"] != json!(["bind"])) {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    granted.insert(format!(
                        "{} {}.{}",
                        verb.as_str().unwrap(),
                        resource.as_str().unwrap(),
                        group.as_str().unwrap()
                    ));
                }
            }
        }
    }
    let mut expected = BTreeSet::new();
    for (group, resource, verbs) in [
        ("", "namespaces", &["get", "create", "patch", "delete"][..]),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            &["get", "create", "patch", "delete"],
        ),
        ("", "resourcequotas", &["get", "create", "patch"]),
        ("", "limitranges", &["get", "create", "patch"]),
        (
            "cert-manager.io",
            "certificates",
            &["get", "create", "patch", "delete"],
        ),
        ("", "secrets", &["get", "delete"]),
        ("", "configmaps", &["get", "create", "patch", "delete"]),
        ("", "serviceaccounts", &["get", "create", "patch", "delete"]),
        (
            "batch",
            "jobs",
            &["get", "list", "create", "patch", "delete"],
        ),
        (
            "policy",
            "poddisruptionbudgets",
            &["get", "create", "patch", "delete"],
        ),
        ("apps", "statefulsets", &["get", "delete"]),
        ("", "services", &["get", "delete"]),
        ("", "persistentvolumeclaims", &["get", "list", "delete"]),
    ] {
        for verb in verbs {
            expected.insert(format!("{verb} {resource}.{group}"));
        }
    }
    assert_eq!(granted, expected);
    // Every rule is explained: the line before each `- apiGroups:` is a comment.
    let role = rendered
        .split("\n---")
        .find(|d| d.contains("\nkind: ClusterRole\n") && d.contains("\n  name: tenantry\n"))
        .unwrap();
    let lines: Vec<&str> = role.lines().collect();
    let mut explained = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            assert!(
                lines[i - 1].trim_start().starts_with('#'),
                "rule without a comment: {line}\n{role}"
            );
            explained += 1;
        }
    }
    assert_eq!(explained, rules.len());
    let binding = named(
        &validate_manifests(&rendered).documents,
        "ClusterRoleBinding",
        "tenantry",
    )
    .clone();
    assert_eq!(binding["roleRef"]["name"], "tenantry");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "tenantry", "namespace": "tenantry"}])
    );
}

#[test]
fn notes_say_how_to_reach_the_portal_and_what_to_check_first() {
    let chart = chart();
    let out = helm(&[
        "install",
        "tenantry",
        chart.to_str().unwrap(),
        "--dry-run=client",
        "--namespace",
        "tenantry",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let notes = text(&out);
    let notes = notes.split("NOTES:").nth(1).expect("helm prints NOTES");
    for needle in [
        "kubectl -n tenantry port-forward svc/tenantry 8080:80",
        "tenantry check",
        "https://tenants.example.com/auth/callback",
        "get job tenantry-migrate",
        "tenantry / database-url",
    ] {
        assert!(notes.contains(needle), "NOTES lack {needle:?}:\n{notes}");
    }
    let all = all_options();
    let out = helm(&[
        "install",
        "tenantry",
        chart.to_str().unwrap(),
        "--dry-run=client",
        "-n",
        "tenantry",
        "-f",
        all.to_str().unwrap(),
    ]);
    assert!(
        text(&out).contains("https://tenants.example.com/"),
        "{}",
        text(&out)
    );
}

/// Server-side dry-run apply of the rendered chart against the local stack's API simulator, in
/// a namespace of its own (a dry run in a namespace that does not exist fails on a real server).
fn dry_run_apply(files: &[&Path], skip_kinds: &[&str]) {
    let stack = Stack::get();
    let kubeconfig = stack.var("KUBECONFIG_ADMIN");
    let namespace = format!("chart-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let rendered = render_in(&namespace, files, &[]).unwrap_or_else(|e| panic!("{e}"));
    let documents: Vec<&str> = rendered
        .split("\n---")
        .filter(|d| {
            !skip_kinds
                .iter()
                .any(|k| d.contains(&format!("\nkind: {k}\n")))
        })
        .collect();
    let (_dir, manifest) = temp_file("rendered.yaml", &documents.join("\n---"));
    let kubectl = |args: &[&str]| {
        Command::new(&tools::tools().kubectl)
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("running kubectl")
    };
    let created = kubectl(&["create", "namespace", &namespace]);
    assert!(
        created.status.success(),
        "is the API simulator up (dev/stack services)?\n{}",
        text(&created)
    );
    let applied = kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=helm",
        "--namespace",
        &namespace,
        "-f",
        manifest.to_str().unwrap(),
    ]);
    let _ = kubectl(&["delete", "namespace", &namespace, "--wait=false"]);
    assert!(applied.status.success(), "{}", text(&applied));
    let report = text(&applied);
    let applied_count = report
        .matches("serverside-applied (server dry run)")
        .count();
    assert_eq!(applied_count, documents.len(), "{report}");
}

#[test]
fn default_values_apply_server_side_in_a_dry_run_against_the_api_simulator() {
    dry_run_apply(&[], &[]);
}

#[test]
fn all_options_apply_server_side_in_a_dry_run_against_the_api_simulator() {
    // The simulator serves no monitoring.coreos.com API (nor would a cluster without the
    // Prometheus operator): the ServiceMonitor is left out of this one.
    dry_run_apply(&[&all_options()], &["ServiceMonitor"]);
}

/// Runs the pinned kubectl against the local stack's API simulator.
fn kubectl_on_simulator(args: &[&str]) -> std::process::Output {
    Command::new(&tools::tools().kubectl)
        .args(args)
        .env("KUBECONFIG", Stack::get().var("KUBECONFIG_ADMIN"))
        .output()
        .expect("running kubectl")
}

/// Runs the pinned helm against the local stack's API simulator.
fn helm_on_simulator(args: &[&str]) -> std::process::Output {
    let home = std::env::temp_dir().join("tenantry-chart-helm-home");
    Command::new(&tools::tools().helm)
        .args(args)
        .env("KUBECONFIG", Stack::get().var("KUBECONFIG_ADMIN"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("running helm")
}

#[test]
fn helm_installs_upgrades_and_uninstalls_the_release_on_the_api_simulator() {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (release, namespace) = (format!("t{id}"), format!("chart-install-{id}"));
    let created = kubectl_on_simulator(&["create", "namespace", &namespace]);
    assert!(
        created.status.success(),
        "is the API simulator up (dev/stack services)?\n{}",
        text(&created)
    );
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let get = |what: &str| {
        text(&kubectl_on_simulator(&[
            "get", what, "-n", &namespace, "-o", "name",
        ]))
    };

    // Install: the pre-install hook (its ConfigMap, then the migration Job) runs, succeeds on the
    // simulator's Job controller and is deleted; then the release's objects are created.
    let install = helm_on_simulator(&[
        "install",
        &release,
        chart,
        "-n",
        &namespace,
        "--timeout",
        "60s",
    ]);
    assert!(install.status.success(), "{}", text(&install));
    let fullname = format!("{release}-tenantry");
    let objects =
        get("deployments,services,configmaps,poddisruptionbudgets,serviceaccounts,jobs,secrets");
    for expected in [
        format!("deployment.apps/{fullname}"),
        format!("service/{fullname}"),
        format!("configmap/{fullname}"),
        format!("poddisruptionbudget.policy/{fullname}"),
        format!("serviceaccount/{fullname}"),
        format!("secret/sh.helm.release.v1.{release}.v1"),
    ] {
        assert!(
            objects.contains(&expected),
            "{expected} missing after install:\n{objects}"
        );
    }
    assert!(
        !objects.contains("-migrate"),
        "the succeeded hook and its ConfigMap must be gone:\n{objects}"
    );
    let role = kubectl_on_simulator(&["get", "clusterrole", &fullname, "-o", "json"]);
    assert!(role.status.success(), "{}", text(&role));

    // Upgrade to every option (but the ServiceMonitor, whose API the simulator does not serve).
    let all = all_options();
    let upgraded_name = format!("{release}-all");
    let upgrade = helm_on_simulator(&[
        "upgrade",
        &release,
        chart,
        "-n",
        &namespace,
        "--timeout",
        "60s",
        "-f",
        all.to_str().unwrap(),
        "--set",
        "serviceMonitor.enabled=false",
        "--set",
        &format!("fullnameOverride={upgraded_name}"),
    ]);
    assert!(upgrade.status.success(), "{}", text(&upgrade));
    let objects = get("deployments,ingresses,networkpolicies");
    for expected in [
        format!("deployment.apps/{upgraded_name}"),
        format!("deployment.apps/{upgraded_name}-workers"),
        format!("ingress.networking.k8s.io/{upgraded_name}"),
        format!("networkpolicy.networking.k8s.io/{upgraded_name}"),
    ] {
        assert!(
            objects.contains(&expected),
            "{expected} missing after upgrade:\n{objects}"
        );
    }
    assert!(
        !objects.contains(&format!("deployment.apps/{fullname}\n")),
        "the old Deployment must be gone:\n{objects}"
    );

    // Uninstall. --keep-history: purging the release record sends a protobuf DeleteOptions,
    // which the simulator cannot decode yet (docs/chart-verification.md).
    let uninstall = helm_on_simulator(&[
        "uninstall",
        &release,
        "-n",
        &namespace,
        "--keep-history",
        "--timeout",
        "60s",
    ]);
    assert!(uninstall.status.success(), "{}", text(&uninstall));
    let objects = get("deployments,services,ingresses,networkpolicies,poddisruptionbudgets");
    assert!(!objects.contains(&upgraded_name), "left behind:\n{objects}");
    let role = kubectl_on_simulator(&["get", "clusterrole", &upgraded_name]);
    assert!(!role.status.success(), "the ClusterRole must be removed");
    let _ = kubectl_on_simulator(&["delete", "namespace", &namespace, "--wait=false"]);
}

/// A ServiceAccount on the API simulator bound to exactly the chart's ClusterRole (as rendered
/// with default values), optionally without one of its rules, and a kubeconfig that
/// authenticates as it with a bearer token only. For tests that run provisioning under the
/// chart's rules. The ClusterRole, its binding and the namespace are removed on drop.
pub struct ChartIdentity {
    pub kubeconfig: std::path::PathBuf,
    pub namespace: String,
    pub service_account: String,
    cluster_role: String,
    /// The chart's ClusterRole for tenant admins on the host, which provisioning binds.
    pub host_role: String,
    _dir: tempfile::TempDir,
}

impl ChartIdentity {
    pub fn create(omit_rule: Option<usize>) -> ChartIdentity {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let (release, namespace) = (format!("p{id}"), format!("chart-sa-{id}"));
        let rendered = render_in(
            &namespace,
            &[],
            &["fullnameOverride=".to_owned() + &release]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let documents = validate_manifests(&rendered).documents;
        let mut role = named(&documents, "ClusterRole", &release).clone();
        if let Some(index) = omit_rule {
            role["rules"].as_array_mut().unwrap().remove(index);
        }
        let host_role = format!("{release}-tenant-host");
        let items = json!([
            role,
            named(&documents, "ClusterRoleBinding", &release),
            named(&documents, "ServiceAccount", &release),
            named(&documents, "ClusterRole", &host_role),
        ]);
        let dir = tempfile::tempdir().unwrap();
        // One document each: the simulator cannot validate a `kind: List` (docs/chart-verification.md).
        let manifest = dir.path().join("identity.yaml");
        let documents: Vec<String> = items
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        std::fs::write(&manifest, documents.join("\n---\n")).unwrap();
        let created = kubectl_on_simulator(&["create", "namespace", &namespace]);
        assert!(
            created.status.success(),
            "is the API simulator up (dev/stack services)?\n{}",
            text(&created)
        );
        let applied = kubectl_on_simulator(&[
            "apply",
            "--server-side",
            "-n",
            &namespace,
            "-f",
            manifest.to_str().unwrap(),
        ]);
        assert!(applied.status.success(), "{}", text(&applied));
        let token = kubectl_on_simulator(&[
            "create",
            "token",
            &release,
            "-n",
            &namespace,
            "--duration=2h",
        ]);
        assert!(token.status.success(), "{}", text(&token));
        let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
        let admin = std::fs::read_to_string(Stack::get().var("KUBECONFIG_ADMIN")).unwrap();
        let field = |name: &str| {
            admin
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("the admin kubeconfig has no {name}"))
                .to_owned()
        };
        let kubeconfig = dir.path().join("kubeconfig");
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "host", "cluster": {"server": field("server"), "certificate-authority-data": field("certificate-authority-data")}}],
            "users": [{"name": release, "user": {"token": token}}],
            "contexts": [{"name": "host", "context": {"cluster": "host", "user": release}}],
            "current-context": "host",
        });
        std::fs::write(&kubeconfig, config.to_string()).unwrap();
        ChartIdentity {
            kubeconfig,
            namespace,
            service_account: release.clone(),
            cluster_role: release,
            host_role,
            _dir: dir,
        }
    }

    /// `kubectl` authenticated as the ServiceAccount.
    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new(&tools::tools().kubectl)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("running kubectl")
    }

    pub fn can(&self, verb: &str, resource: &str, namespace: &str) -> bool {
        let out = self.kubectl(&["auth", "can-i", verb, resource, "-n", namespace]);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    }
}

impl Drop for ChartIdentity {
    fn drop(&mut self) {
        let _ = kubectl_on_simulator(&[
            "delete",
            "clusterrolebinding,clusterrole",
            &self.cluster_role,
            "--wait=false",
        ]);
        let _ = kubectl_on_simulator(&["delete", "clusterrole", &self.host_role, "--wait=false"]);
        let _ = kubectl_on_simulator(&["delete", "namespace", &self.namespace, "--wait=false"]);
    }
}

#[test]
fn a_service_account_bound_to_the_chart_rules_can_exactly_what_they_say_on_the_api_simulator() {
    let identity = ChartIdentity::create(None);
    let tenant = &identity.namespace;
    let whoami = identity.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    let expected = format!(
        "system:serviceaccount:{tenant}:{}",
        identity.service_account
    );
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        expected,
        "{}",
        text(&whoami)
    );
    for rule in cluster_role_rules() {
        let groups = rule["apiGroups"].as_array().unwrap();
        for resource in rule["resources"].as_array().unwrap() {
            for verb in rule["verbs"].as_array().unwrap() {
                let group = groups[0].as_str().unwrap();
                let resource = resource.as_str().unwrap();
                let target = match rule["resourceNames"].as_array() {
                    Some(names) => format!("{resource}/{}", names[0].as_str().unwrap()),
                    None if group.is_empty() => resource.to_owned(),
                    None => format!("{resource}.{group}"),
                };
                assert!(
                    identity.can(verb.as_str().unwrap(), &target, tenant),
                    "cannot {verb} {target}"
                );
            }
        }
    }
    for (verb, target) in [
        ("list", "secrets"),
        ("watch", "secrets"),
        ("create", "secrets"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("bind", "clusterroles/cluster-admin"),
        ("escalate", "clusterroles/admin"),
        ("impersonate", "users"),
        ("create", "pods"),
        ("create", "deployments.apps"),
        ("update", "namespaces"),
    ] {
        assert!(!identity.can(verb, target, tenant), "can {verb} {target}");
    }
    // TokenRequest is a subresource: `serviceaccounts/token` would name a ServiceAccount "token".
    let token = identity.kubectl(&[
        "auth",
        "can-i",
        "create",
        "serviceaccounts",
        "--subresource=token",
        "-n",
        tenant,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&token.stdout).trim(),
        "no",
        "can create TokenRequests"
    );
    // `bind` works as intended: a RoleBinding to `admin` is allowed, one to cluster-admin not.
    let binding = |name: &str, role: &str| {
        identity.kubectl(&[
            "create",
            "rolebinding",
            name,
            "-n",
            tenant,
            &format!("--clusterrole={role}"),
            "--group=tenant1-admins",
        ])
    };
    let allowed = binding("admins", "admin");
    assert!(allowed.status.success(), "{}", text(&allowed));
    let refused = binding("owners", "cluster-admin");
    assert!(!refused.status.success());
    assert!(text(&refused).contains("forbidden"), "{}", text(&refused));
}

#[test]
fn the_tenant_host_role_reads_workloads_restarts_pods_and_reaches_no_secret() {
    let validation = validate_manifests(&render(&[], &[]));
    let role = named(&validation.documents, "ClusterRole", "tenantry-tenant-host");
    let mut granted = std::collections::BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let list = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        assert!(rule.get("resourceNames").is_none(), "{rule}");
        for group in list("apiGroups") {
            for resource in list("resources") {
                for verb in list("verbs") {
                    assert!(
                        ![&group, &resource, &verb].contains(&&"*".to_owned()),
                        "{rule}"
                    );
                    granted.insert(format!("{verb} {resource}.{group}"));
                }
            }
        }
    }
    // Reading a Secret, or starting anything that could mount one or read one off a pod's disk.
    for resource in [
        "secrets",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/proxy",
    ] {
        assert!(
            !granted.iter().any(|g| g
                .split(' ')
                .nth(1)
                .unwrap()
                .starts_with(&format!("{resource}."))),
            "{resource}: {granted:?}"
        );
    }
    for verb in [
        "create",
        "update",
        "patch",
        "bind",
        "escalate",
        "impersonate",
        "deletecollection",
    ] {
        assert!(
            !granted.iter().any(|g| g.starts_with(&format!("{verb} "))),
            "{verb}: {granted:?}"
        );
    }
    let deletes: Vec<&String> = granted
        .iter()
        .filter(|g| g.starts_with("delete "))
        .collect();
    assert_eq!(
        deletes,
        ["delete pods."],
        "only pods may be deleted (restarted)"
    );
    for needed in [
        "get pods.",
        "list pods.",
        "watch pods.",
        "get pods/log.",
        "list events.",
        "get deployments.apps",
        "list ingresses.networking.k8s.io",
    ] {
        assert!(granted.contains(needed), "{needed}: {granted:?}");
    }
}

#[test]
fn removing_any_rule_of_the_chart_takes_its_permission_away_with_a_forbidden_answer() {
    let rules = cluster_role_rules();
    for (index, rule) in rules.iter().enumerate() {
        let identity = ChartIdentity::create(Some(index));
        let group = rule["apiGroups"][0].as_str().unwrap();
        let resource = rule["resources"][0].as_str().unwrap();
        let verb = rule["verbs"][0].as_str().unwrap();
        let target = match rule["resourceNames"].as_array() {
            Some(names) => format!("{resource}/{}", names[0].as_str().unwrap()),
            None if group.is_empty() => resource.to_owned(),
            None => format!("{resource}.{group}"),
        };
        assert!(
            !identity.can(verb, &target, &identity.namespace),
            "rule {index} removed, yet {verb} {target} is allowed"
        );
        // The API server's own answer names what was refused (for the kinds the simulator
        // serves: it has no PersistentVolumeClaims, see docs/chart-verification.md).
        if verb == "get" {
            let out =
                identity.kubectl(&["get", &target, "does-not-matter", "-n", &identity.namespace]);
            let answer = text(&out);
            if answer.contains("doesn't have a resource type") {
                continue;
            }
            assert!(
                answer.contains("Forbidden") || answer.contains("forbidden"),
                "{answer}"
            );
            assert!(answer.contains(resource), "{answer}");
        }
    }
}

#[test]
fn metrics_are_scraped_on_their_own_port_that_the_ingress_never_routes_to() {
    let validation = validate_manifests(&render(&[&all_options()], &[]));
    let documents = &validation.documents;
    // Web and worker pods both serve /metrics on the metrics port.
    for name in ["portal", "portal-workers"] {
        let deployment = named(documents, "Deployment", name);
        let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
        assert!(
            ports
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "metrics" && p["containerPort"] == 9100),
            "{name}: {ports}"
        );
    }
    let metrics = named(documents, "Service", "portal-metrics");
    assert_eq!(metrics["spec"]["clusterIP"], "None");
    assert_eq!(metrics["spec"]["ports"][0]["targetPort"], "metrics");
    let monitor = named(documents, "ServiceMonitor", "portal");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &metrics["metadata"]["labels"][key], value,
            "the ServiceMonitor selects the metrics Service ({key})"
        );
    }
    // The public way in reaches the portal's port only.
    let web = named(documents, "Service", "portal");
    let web_ports: Vec<&Value> = web["spec"]["ports"].as_array().unwrap().iter().collect();
    assert_eq!(web_ports.len(), 1);
    assert_eq!(web_ports[0]["targetPort"], "http");
    let ingress = named(documents, "Ingress", "portal");
    for rule in ingress["spec"]["rules"].as_array().unwrap() {
        for path in rule["http"]["paths"].as_array().unwrap() {
            assert_eq!(path["backend"]["service"]["name"], "portal");
            assert_eq!(path["backend"]["service"]["port"]["name"], "http");
        }
    }
    // Prometheus reaches the metrics port from its namespace, the Ingress controller the web port.
    let policy = named(documents, "NetworkPolicy", "portal");
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    let from_for = |port: &str| {
        rules
            .iter()
            .find(|r| r["ports"][0]["port"] == port)
            .unwrap_or_else(|| panic!("no rule for {port}"))["from"][0]["namespaceSelector"]
            ["matchLabels"]["kubernetes.io/metadata.name"]
            .clone()
    };
    assert_eq!(from_for("http"), "ingress-nginx");
    assert_eq!(from_for("metrics"), "monitoring");
}
