//! The CustomResourceDefinitions a cluster with cert-manager installed has. Their schemas are
//! abridged: the fields Tenantry and tests use are typed and required where cert-manager
//! requires them; everything else in spec/status is preserved as sent.

use serde_json::{Value, json};

fn ready_columns(extra: Vec<Value>) -> Vec<Value> {
    let mut cols = vec![
        json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
    ];
    cols.extend(extra);
    cols.push(json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}));
    cols
}

fn crd(
    plural: &str,
    kind: &str,
    scope: &str,
    short: &[&str],
    spec_schema: Value,
    columns: Vec<Value>,
) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.cert-manager.io"),
            "labels": {"app": "cert-manager", "app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": "cert-manager"},
        },
        "spec": {
            "group": "cert-manager.io",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List"), "shortNames": short, "categories": ["cert-manager"]},
            "scope": scope,
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec_schema,
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    })
}

fn issuer_ref() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "kind": {"type": "string"}, "group": {"type": "string"}}})
}

pub fn cert_manager() -> Vec<Value> {
    let issuer_spec = json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "ca": {"type": "object", "required": ["secretName"], "properties": {"secretName": {"type": "string"}, "crlDistributionPoints": {"type": "array", "items": {"type": "string"}}}},
            "selfSigned": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    });
    vec![
        crd(
            "certificates",
            "Certificate",
            "Namespaced",
            &["cert", "certs"],
            json!({
                "type": "object",
                "required": ["issuerRef", "secretName"],
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "secretName": {"type": "string"},
                    "issuerRef": issuer_ref(),
                    "commonName": {"type": "string"},
                    "dnsNames": {"type": "array", "items": {"type": "string"}},
                    "ipAddresses": {"type": "array", "items": {"type": "string"}},
                    "uris": {"type": "array", "items": {"type": "string"}},
                    "emailAddresses": {"type": "array", "items": {"type": "string"}},
                    "duration": {"type": "string"},
                    "renewBefore": {"type": "string"},
                    "isCA": {"type": "boolean"},
                    "usages": {"type": "array", "items": {"type": "string"}},
                    "subject": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "privateKey": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "secretTemplate": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
            }),
            ready_columns(vec![
                json!({"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"}),
                json!({"name": "Issuer", "type": "string", "jsonPath": ".spec.issuerRef.name", "priority": 1}),
                json!({"name": "Status", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].message", "priority": 1}),
            ]),
        ),
        crd(
            "certificaterequests",
            "CertificateRequest",
            "Namespaced",
            &["cr", "crs"],
            json!({"type": "object", "required": ["issuerRef", "request"], "x-kubernetes-preserve-unknown-fields": true, "properties": {"issuerRef": issuer_ref(), "request": {"type": "string"}}}),
            ready_columns(vec![]),
        ),
        crd(
            "issuers",
            "Issuer",
            "Namespaced",
            &[],
            issuer_spec.clone(),
            ready_columns(vec![]),
        ),
        crd(
            "clusterissuers",
            "ClusterIssuer",
            "Cluster",
            &[],
            issuer_spec,
            ready_columns(vec![]),
        ),
    ]
}
