//! Bad input never crashes the server and always gets a Status: malformed bodies, unknown
//! kinds, wrong apiVersions, oversized bodies, and a bounded seeded fuzz over request bodies.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::harness::Sim;

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    ct: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = http
        .request(method, url)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("server must answer");
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{code} answer is not JSON ({e}): {text}"));
    (code, v)
}

fn assert_status(code: u16, v: &Value, want: u16, reason: &str) {
    assert_eq!(code, want, "{v}");
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["code"], want, "{v}");
    assert_eq!(v["reason"], reason, "{v}");
}

#[tokio::test]
async fn malformed_requests_get_status_errors() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "a"]);
    let http = sim.admin_http();
    let cms = format!("{}/api/v1/namespaces/a/configmaps", sim.url);
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        b"{not json".to_vec(),
    )
    .await;
    assert_status(c, &v, 400, "BadRequest");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/yaml",
        b"a: [unclosed".to_vec(),
    )
    .await;
    assert_status(c, &v, 400, "BadRequest");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        br#"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(),
    )
    .await;
    assert_status(c, &v, 400, "BadRequest");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec(),
    )
    .await;
    assert_status(c, &v, 400, "BadRequest");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/namespaces/a/widgets", sim.url),
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_status(c, &v, 404, "NotFound");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &format!("{}/apis/example.com/v1/namespaces/a/widgets", sim.url),
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_status(c, &v, 404, "NotFound");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#.to_vec(),
    )
    .await;
    assert_status(c, &v, 422, "Invalid");
    assert_eq!(v["details"]["causes"][0]["field"], "metadata.name");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":1}}"#
            .to_vec(),
    )
    .await;
    assert_status(c, &v, 400, "BadRequest");
    let secrets = format!("{}/api/v1/namespaces/a/secrets", sim.url);
    let (c, v) = send(&http, reqwest::Method::POST, &secrets, "application/json", br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"},"data":{"k":"not base64!"}}"#.to_vec()).await;
    assert_status(c, &v, 400, "BadRequest");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"b"}}"#
            .to_vec(),
    )
    .await;
    assert_status(c, &v, 400, "BadRequest");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/namespaces/nope/configmaps", sim.url),
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(),
    )
    .await;
    assert_status(c, &v, 404, "NotFound");
    let (c, v) = send(
        &http,
        reqwest::Method::PATCH,
        &format!("{cms}/missing"),
        "application/merge-patch+json",
        b"{}".to_vec(),
    )
    .await;
    assert_status(c, &v, 404, "NotFound");
    let (c, v) = send(
        &http,
        reqwest::Method::PATCH,
        &format!("{cms}/missing"),
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_status(c, &v, 415, "UnsupportedMediaType");
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/json",
        big.into_bytes(),
    )
    .await;
    assert_status(c, &v, 413, "RequestEntityTooLarge");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (c, v) = send(
        &http,
        reqwest::Method::PATCH,
        &format!("{cms}/x"),
        "application/apply-patch+yaml",
        deep.into_bytes(),
    )
    .await;
    assert!(c == 400 || c == 422, "{c} {v}");
    let (c, v) = send(
        &http,
        reqwest::Method::POST,
        &cms,
        "application/vnd.kubernetes.protobuf",
        b"k8s\x00\xff\xff\xff".to_vec(),
    )
    .await;
    assert_eq!(v["kind"], "Status", "{c} {v}");
    let r = http
        .get(format!("{}/readyz", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 4 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>()),
        4 => json!(
            [
                "",
                "a",
                "Z_",
                "-",
                &"x".repeat(300),
                "\u{1F600}",
                "v1",
                "ConfigMap",
                "$patch",
                "delete"
            ][rng.random_range(0..10)]
        ),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "apiVersion",
                "kind",
                "metadata",
                "name",
                "namespace",
                "labels",
                "data",
                "spec",
                "status",
                "$patch",
                "$retainKeys",
                "op",
                "path",
                "value",
                "containers",
                "finalizers",
                "resourceVersion",
                "uid",
                "managedFields",
            ];
            Value::Object(
                (0..rng.random_range(0..5))
                    .map(|_| {
                        (
                            keys[rng.random_range(0..keys.len())].to_string(),
                            random_json(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
    }
}

fn mutate(rng: &mut StdRng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(0..4) {
        if b.is_empty() {
            break;
        }
        let i = rng.random_range(0..b.len());
        match rng.random_range(0..3) {
            0 => b[i] = rng.random(),
            1 => b.truncate(i),
            _ => b.insert(i, b"{}[]\",:\\"[rng.random_range(0..8)]),
        }
    }
    b
}

#[tokio::test]
async fn fuzzed_bodies_always_get_an_answer() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "f"]);
    sim.ok(&["create", "configmap", "target", "-n", "f"]);
    sim.ok(&["create", "sa", "target", "-n", "f"]);
    let http = sim.admin_http();
    let base = sim.url.clone();
    let targets: Vec<(reqwest::Method, String)> = vec![
        (
            reqwest::Method::POST,
            format!("{base}/api/v1/namespaces/f/configmaps"),
        ),
        (
            reqwest::Method::PUT,
            format!("{base}/api/v1/namespaces/f/configmaps/target"),
        ),
        (
            reqwest::Method::PATCH,
            format!("{base}/api/v1/namespaces/f/configmaps/target"),
        ),
        (reqwest::Method::POST, format!("{base}/api/v1/namespaces")),
        (
            reqwest::Method::POST,
            format!("{base}/apis/apps/v1/namespaces/f/deployments"),
        ),
        (
            reqwest::Method::PATCH,
            format!("{base}/apis/batch/v1/namespaces/f/jobs/j?fieldManager=fuzz"),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/apis/rbac.authorization.k8s.io/v1/namespaces/f/rolebindings"),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/apis/cert-manager.io/v1/namespaces/f/certificates"),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/apis/authentication.k8s.io/v1/tokenreviews"),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/api/v1/namespaces/f/serviceaccounts/target/token"),
        ),
        (
            reqwest::Method::DELETE,
            format!("{base}/api/v1/namespaces/f/secrets/none"),
        ),
    ];
    let types = [
        "application/json",
        "application/yaml",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/vnd.kubernetes.protobuf",
        "",
    ];
    // Fixed seed and count: the same bounded run in CI every time.
    let mut rng = StdRng::seed_from_u64(0x6b75_6265);
    for i in 0..600 {
        let (method, url) = &targets[rng.random_range(0..targets.len())];
        let ct = types[rng.random_range(0..types.len())];
        let mut body = serde_json::to_vec(&random_json(&mut rng, 0)).unwrap();
        if ct == "application/vnd.kubernetes.protobuf" {
            body.splice(0..0, b"k8s\x00".iter().copied());
        }
        if rng.random_range(0..3) == 0 {
            body = mutate(&mut rng, body);
        }
        let url = if rng.random_range(0..4) == 0 {
            format!(
                "{url}{}dryRun=All",
                if url.contains('?') { "&" } else { "?" }
            )
        } else {
            url.clone()
        };
        let r = http
            .request(method.clone(), &url)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await;
        let r = r.unwrap_or_else(|e| {
            panic!(
                "request {i} to {url} ({ct}) got no answer: {e}; body {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        let code = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            code < 500,
            "request {i} {method} {url} ({ct}) → {code}: {text}\nbody: {}",
            String::from_utf8_lossy(&body)
        );
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("request {i}: not JSON: {text}"));
        if code >= 400 {
            assert_eq!(v["kind"], "Status", "request {i}: {v}");
        }
    }
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
