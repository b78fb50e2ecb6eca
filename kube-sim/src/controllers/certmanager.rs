//! cert-manager: CA and SelfSigned Issuers/ClusterIssuers become Ready when they can sign; a
//! Certificate gets its Secret (`tls.crt`, `tls.key`, `ca.crt`) with the requested subject,
//! SANs, usages, key algorithm and duration, signed by the issuer's CA, and a Ready condition.
//! A ClusterIssuer's CA Secret lives in the `cert-manager` namespace, as in the default install.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::KeyUsagePurpose;
use serde_json::{Value, json};

use super::{Events, Tick};
use crate::cluster::Cluster;
use crate::pki::{self, Ca, CertRequest, KeyAlgorithm};
use crate::resources::GroupResource;
use crate::store::{EventType, now_rfc3339};

pub const CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";
const SPEC_HASH: &str = "sim.tenantry.dev/certificate-spec";

fn gr(r: &str) -> GroupResource {
    GroupResource::new("cert-manager.io", r)
}

fn secrets() -> GroupResource {
    GroupResource::new("", "secrets")
}

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => reconcile_all(&c),
            Tick::Event(ev) => {
                let relevant = ev.gr.group == "cert-manager.io"
                    || (ev.gr == secrets() && ev.typ != EventType::Added)
                    || ev.gr == secrets();
                if !relevant {
                    continue;
                }
                if ev.gr == gr("certificates") {
                    if ev.typ != EventType::Deleted {
                        reconcile_certificate(&c, &ev.object);
                    }
                } else {
                    reconcile_all(&c);
                }
            }
        }
    }
}

fn reconcile_all(c: &Cluster) {
    for kind in ["issuers", "clusterissuers"] {
        for i in c.store.list(&gr(kind), None).0 {
            reconcile_issuer(c, kind, &i);
        }
    }
    for cert in c.store.list(&gr("certificates"), None).0 {
        reconcile_certificate(c, &cert);
    }
}

fn condition(status: bool, reason: &str, message: &str, generation: &Value) -> Value {
    json!({"type": "Ready", "status": if status { "True" } else { "False" }, "reason": reason, "message": message, "lastTransitionTime": now_rfc3339(), "observedGeneration": generation})
}

fn set_ready(
    c: &Cluster,
    g: &GroupResource,
    obj: &Value,
    ready: bool,
    reason: &str,
    message: &str,
    extra: Option<Value>,
) {
    let ns = crate::api::meta(obj, "namespace").to_string();
    let name = crate::api::meta(obj, "name").to_string();
    let _ = c.update_with(g, &ns, &name, "cert-manager-certificates-readiness", |o| {
        let generation = o
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let current = o
            .pointer("/status/conditions/0")
            .cloned()
            .unwrap_or(Value::Null);
        let same = current.get("status") == Some(&json!(if ready { "True" } else { "False" }))
            && current.get("reason") == Some(&json!(reason))
            && current.get("message") == Some(&json!(message))
            && current.get("observedGeneration") == Some(&generation);
        if same && extra.is_none() {
            return false;
        }
        let mut status = o
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        status["conditions"] = json!([condition(ready, reason, message, &generation)]);
        if let Some(Value::Object(m)) = &extra {
            for (k, v) in m {
                status[k] = v.clone();
            }
        }
        o["status"] = status;
        true
    });
}

/// The CA behind an issuer, or why it cannot sign. None = SelfSigned.
fn issuer_ca(c: &Cluster, kind: &str, issuer: &Value) -> Result<Option<Ca>, (String, String)> {
    if issuer.pointer("/spec/selfSigned").is_some() {
        return Ok(None);
    }
    let Some(secret_name) = issuer
        .pointer("/spec/ca/secretName")
        .and_then(Value::as_str)
    else {
        return Err((
            "UnsupportedIssuer".into(),
            "only CA and SelfSigned issuers are simulated".into(),
        ));
    };
    let ns = if kind == "clusterissuers" {
        CLUSTER_RESOURCE_NAMESPACE
    } else {
        crate::api::meta(issuer, "namespace")
    };
    let secret = c.store.get(&secrets(), ns, secret_name).ok_or_else(|| {
        (
            "ErrGetKeyPair".to_string(),
            format!("Error getting keypair for CA issuer: secrets \"{secret_name}\" not found"),
        )
    })?;
    let field = |k: &str| -> Option<String> {
        let b64 = secret.get("data")?.get(k)?.as_str()?;
        String::from_utf8(B64.decode(b64).ok()?).ok()
    };
    let (Some(crt), Some(key)) = (field("tls.crt"), field("tls.key")) else {
        return Err((
            "ErrInvalidKeyPair".into(),
            "Error getting keypair for CA issuer: tls.crt or tls.key missing".into(),
        ));
    };
    Ca::from_pem(&crt, &key).map(Some).map_err(|e| {
        (
            "ErrInvalidKeyPair".into(),
            format!("Error getting keypair for CA issuer: {e}"),
        )
    })
}

fn reconcile_issuer(c: &Cluster, kind: &str, issuer: &Value) {
    match issuer_ca(c, kind, issuer) {
        Ok(Some(_)) => set_ready(
            c,
            &gr(kind),
            issuer,
            true,
            "KeyPairVerified",
            "Signing CA verified",
            None,
        ),
        Ok(None) => set_ready(c, &gr(kind), issuer, true, "IsReady", "", None),
        Err((reason, msg)) => set_ready(c, &gr(kind), issuer, false, &reason, &msg, None),
    }
}

/// Go's time.ParseDuration for the units certificates use.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let mut unit = ch.to_string();
        if ch == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn request_of(spec: &Value) -> Result<CertRequest> {
    let mut req = CertRequest {
        common_name: spec
            .get("commonName")
            .and_then(Value::as_str)
            .map(str::to_string),
        organizations: strs(spec.pointer("/subject/organizations")),
        organizational_units: strs(spec.pointer("/subject/organizationalUnits")),
        dns_names: strs(spec.get("dnsNames")),
        uris: strs(spec.get("uris")),
        emails: strs(spec.get("emailAddresses")),
        is_ca: spec.get("isCA").and_then(Value::as_bool).unwrap_or(false),
        ..Default::default()
    };
    for ip in strs(spec.get("ipAddresses")) {
        req.ip_addresses.push(
            ip.parse()
                .map_err(|_| anyhow!("invalid IP address {ip:?}"))?,
        );
    }
    let usages = {
        let u = strs(spec.get("usages"));
        if u.is_empty() {
            vec![
                "digital signature".to_string(),
                "key encipherment".to_string(),
            ]
        } else {
            u
        }
    };
    for u in usages {
        match u.as_str() {
            "digital signature" | "signing" => {
                req.key_usages.push(KeyUsagePurpose::DigitalSignature)
            }
            "key encipherment" => req.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            "content commitment" => req.key_usages.push(KeyUsagePurpose::ContentCommitment),
            "data encipherment" => req.key_usages.push(KeyUsagePurpose::DataEncipherment),
            "key agreement" => req.key_usages.push(KeyUsagePurpose::KeyAgreement),
            "cert sign" => req.key_usages.push(KeyUsagePurpose::KeyCertSign),
            "crl sign" => req.key_usages.push(KeyUsagePurpose::CrlSign),
            "server auth" => req.server_auth = true,
            "client auth" => req.client_auth = true,
            other => bail!("unsupported usage {other:?}"),
        }
    }
    req.validity = Some(match spec.get("duration").and_then(Value::as_str) {
        Some(d) => parse_duration(d).ok_or_else(|| anyhow!("invalid duration {d:?}"))?,
        None => Duration::from_secs(90 * 24 * 3600),
    });
    let alg = spec
        .pointer("/privateKey/algorithm")
        .and_then(Value::as_str)
        .unwrap_or("RSA");
    let size = spec.pointer("/privateKey/size").and_then(Value::as_u64);
    req.key = match alg {
        "RSA" => KeyAlgorithm::Rsa(size.unwrap_or(2048) as u32),
        "ECDSA" => match size.unwrap_or(256) {
            256 => KeyAlgorithm::EcdsaP256,
            384 => KeyAlgorithm::EcdsaP384,
            s => bail!("unsupported ECDSA key size {s}"),
        },
        "Ed25519" => KeyAlgorithm::Ed25519,
        a => bail!("unsupported private key algorithm {a:?}"),
    };
    if req.common_name.is_none()
        && req.dns_names.is_empty()
        && req.ip_addresses.is_empty()
        && req.uris.is_empty()
        && req.emails.is_empty()
    {
        bail!(
            "at least one of commonName, dnsNames, uris, ipAddresses or emailAddresses must be set"
        );
    }
    Ok(req)
}

fn spec_hash(spec: &Value, issuer_uid: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{spec}{issuer_uid}"));
    h.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn reconcile_certificate(c: &Cluster, cert: &Value) {
    if cert.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = crate::api::meta(cert, "namespace").to_string();
    let name = crate::api::meta(cert, "name").to_string();
    let spec = cert.get("spec").cloned().unwrap_or(json!({}));
    let secret_name = spec
        .get("secretName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let issuer_name = spec
        .pointer("/issuerRef/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let issuer_kind = spec
        .pointer("/issuerRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("Issuer")
        .to_string();
    let issuer_group = spec
        .pointer("/issuerRef/group")
        .and_then(Value::as_str)
        .unwrap_or("cert-manager.io")
        .to_string();
    let kind_res = if issuer_kind == "ClusterIssuer" {
        "clusterissuers"
    } else {
        "issuers"
    };
    let issuer_ns = if kind_res == "clusterissuers" {
        ""
    } else {
        ns.as_str()
    };
    let certs = gr("certificates");
    if issuer_group != "cert-manager.io" {
        set_ready(
            c,
            &certs,
            cert,
            false,
            "Pending",
            &format!("issuer group {issuer_group:?} is not simulated"),
            None,
        );
        return;
    }
    let Some(issuer) = c.store.get(&gr(kind_res), issuer_ns, &issuer_name) else {
        set_ready(
            c,
            &certs,
            cert,
            false,
            "DoesNotExist",
            &format!(
                "Issuing certificate as Secret does not exist (referenced {issuer_kind} {issuer_name:?} not found)"
            ),
            None,
        );
        return;
    };
    let ca = match issuer_ca(c, kind_res, &issuer) {
        Ok(ca) => ca,
        Err((_, msg)) => {
            set_ready(c, &certs, cert, false, "IssuerNotReady", &msg, None);
            return;
        }
    };
    let hash = spec_hash(&spec, crate::api::meta(&issuer, "uid"));
    let existing = c.store.get(&secrets(), &ns, &secret_name);
    let up_to_date = existing.as_ref().is_some_and(|s| {
        s.pointer("/metadata/annotations")
            .and_then(|a| a.get(SPEC_HASH))
            .and_then(Value::as_str)
            == Some(hash.as_str())
            && s.pointer("/data/tls.crt").is_some()
    });
    let ready_now = cert
        .pointer("/status/conditions/0/status")
        .and_then(Value::as_str)
        == Some("True")
        && cert.pointer("/status/conditions/0/observedGeneration")
            == cert.pointer("/metadata/generation");
    if up_to_date && ready_now {
        return;
    }
    if !up_to_date {
        let req = match request_of(&spec) {
            Ok(r) => r,
            Err(e) => {
                set_ready(c, &certs, cert, false, "Failed", &format!("{e}"), None);
                return;
            }
        };
        let issued = match &ca {
            Some(ca) => ca.issue(&req),
            None => pki::self_signed(&req),
        };
        let issued = match issued {
            Ok(i) => i,
            Err(e) => {
                set_ready(
                    c,
                    &certs,
                    cert,
                    false,
                    "Failed",
                    &format!("signing: {e:#}"),
                    None,
                );
                return;
            }
        };
        let ca_pem = ca
            .as_ref()
            .map(|a| a.cert_pem.clone())
            .unwrap_or_else(|| issued.cert_pem.clone());
        let mut annotations = json!({
            "cert-manager.io/alt-names": req.dns_names.join(","),
            "cert-manager.io/certificate-name": name,
            "cert-manager.io/common-name": req.common_name.clone().unwrap_or_default(),
            "cert-manager.io/ip-sans": req.ip_addresses.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
            "cert-manager.io/issuer-group": issuer_group,
            "cert-manager.io/issuer-kind": issuer_kind,
            "cert-manager.io/issuer-name": issuer_name,
            "cert-manager.io/uri-sans": req.uris.join(","),
            SPEC_HASH: hash,
        });
        let mut labels = json!({"controller.cert-manager.io/fao": "true"});
        if let Some(t) = spec.get("secretTemplate") {
            for (k, v) in t
                .get("annotations")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                annotations[k] = v.clone();
            }
            for (k, v) in t
                .get("labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                labels[k] = v.clone();
            }
        }
        let data = json!({"tls.crt": B64.encode(&issued.cert_pem), "tls.key": B64.encode(&issued.key_pem), "ca.crt": B64.encode(&ca_pem)});
        let result = if existing.is_some() {
            c.update_with(
                &secrets(),
                &ns,
                &secret_name,
                "cert-manager-certificates-issuing",
                |s| {
                    s["type"] = json!("kubernetes.io/tls");
                    s["data"] = data.clone();
                    for (k, v) in annotations.as_object().unwrap() {
                        s["metadata"]["annotations"][k] = v.clone();
                    }
                    for (k, v) in labels.as_object().unwrap() {
                        s["metadata"]["labels"][k] = v.clone();
                    }
                    true
                },
            )
            .map(|_| ())
        } else {
            c.create_internal(
                &secrets(),
                json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"name": secret_name, "namespace": ns, "annotations": annotations, "labels": labels}, "data": data}),
                "cert-manager-certificates-issuing",
            )
            .map(|_| ())
        };
        if let Err(e) = result {
            set_ready(
                c,
                &certs,
                cert,
                false,
                "Failed",
                &format!("writing Secret {secret_name}: {e:?}"),
                None,
            );
            return;
        }
    }
    let now = chrono::Utc::now();
    let validity = spec
        .get("duration")
        .and_then(Value::as_str)
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(90 * 24 * 3600));
    let not_after = now + chrono::Duration::from_std(validity).unwrap_or_default();
    let renewal = now + chrono::Duration::from_std(validity * 2 / 3).unwrap_or_default();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let revision = cert
        .pointer("/status/revision")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + if up_to_date { 0 } else { 1 };
    let extra = json!({"notBefore": fmt(now - chrono::Duration::minutes(5)), "notAfter": fmt(not_after), "renewalTime": fmt(renewal), "revision": revision.max(1)});
    set_ready(
        c,
        &certs,
        cert,
        true,
        "Ready",
        "Certificate is up to date and has not expired",
        Some(extra),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_duration("2160h"),
            Some(Duration::from_secs(2160 * 3600))
        );
        assert_eq!(parse_duration("1h30m0s"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("x"), None);
    }
}
