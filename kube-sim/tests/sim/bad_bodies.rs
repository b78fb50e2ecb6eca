//! Generated bad request bodies for every write verb — create, update, JSON merge patch,
//! strategic merge patch, JSON patch and server-side apply — built from a valid object with one
//! defect each (wrong kind, apiVersion, name, metadata types, invalid names, garbage). The
//! simulator must answer like kube-apiserver: a 4xx `Status` (kind Status, apiVersion v1,
//! status Failure, a reason, `code` equal to the HTTP status, a message), the documented
//! reason where kube-apiserver's is fixed, never a 5xx or a dropped connection — and a refused
//! write must leave the store exactly as it was (objects, their resourceVersions, the list's).
//!
//! Seeded and bounded: `PROPTEST_CASES` sets the number of cases (default 240), the seed is
//! fixed so CI runs the same cases every time.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::Sim;

#[derive(Debug, Clone, Copy)]
enum Verb {
    Create,
    Update,
    MergePatch,
    StrategicPatch,
    JsonPatch,
    Apply,
}

impl Verb {
    const ALL: [Verb; 6] = [
        Verb::Create,
        Verb::Update,
        Verb::MergePatch,
        Verb::StrategicPatch,
        Verb::JsonPatch,
        Verb::Apply,
    ];

    fn method(self) -> Method {
        match self {
            Verb::Create => Method::POST,
            Verb::Update => Method::PUT,
            _ => Method::PATCH,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Verb::Create | Verb::Update => "application/json",
            Verb::MergePatch => "application/merge-patch+json",
            Verb::StrategicPatch => "application/strategic-merge-patch+json",
            Verb::JsonPatch => "application/json-patch+json",
            Verb::Apply => "application/apply-patch+yaml",
        }
    }
}

/// What kube-apiserver answers: a fixed code and reason, or some 4xx whose reason varies.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Refused(u16, &'static str),
    ClientError,
    /// A valid write (for checking that the store moves only then).
    Accepted,
}

/// Names kube-apiserver refuses for a ConfigMap (DNS-1123 subdomain).
const BAD_NAMES: &[&str] = &[
    "Bad_Name", "UPPER", "-lead", "trail-", "a..b", "sp ace", "ünï", "a/b", "%2e", "x\u{0}y",
];

fn bad_name(rng: &mut StdRng) -> String {
    if rng.random_range(0..4) == 0 {
        "a".repeat(254)
    } else {
        BAD_NAMES[rng.random_range(0..BAD_NAMES.len())].to_string()
    }
}

fn junk_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..6) {
        0 => json!(5),
        1 => json!([]),
        2 => json!(true),
        3 => json!({"x": {"y": 1}}),
        4 => json!(1.5e300),
        _ => json!(["a", 1]),
    }
}

fn configmap(name: &str, data: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": data}})
}

/// One case: the body bytes and what a real API server answers.
fn case(rng: &mut StdRng, verb: Verb, n: usize) -> (Vec<u8>, Expect, String) {
    let fresh = format!("c{n}");
    // The object the verb writes: a new one for create, else the existing `target`.
    let name = match verb {
        Verb::Create => fresh.clone(),
        _ => "target".to_string(),
    };
    let defect = rng.random_range(0..12);
    let mut obj = configmap(&name, &format!("v{n}"));
    let bad = |e| (e, format!("defect {defect}"));
    let (expect, what) = match defect {
        0 => {
            obj["kind"] = json!(
                ["Secret", "Namespace", "configmap", "ConfigMapList", "Pod"]
                    [rng.random_range(0..5)]
            );
            bad(Expect::Refused(400, "BadRequest"))
        }
        1 => {
            obj["apiVersion"] =
                json!(["v2", "apps/v1", "V1", "v1beta1", "a/b/v1"][rng.random_range(0..5)]);
            bad(Expect::Refused(400, "BadRequest"))
        }
        2 => {
            // Not an object: an object of unknown fields is merely ignored by kube-apiserver.
            let v = junk_value(rng);
            obj["metadata"] = if v.is_object() { json!("x") } else { v };
            bad(Expect::Refused(400, "BadRequest"))
        }
        3 => {
            obj["metadata"]["name"] = junk_value(rng);
            bad(Expect::Refused(400, "BadRequest"))
        }
        4 => {
            obj["metadata"]["labels"] = junk_value(rng);
            bad(Expect::Refused(400, "BadRequest"))
        }
        5 => {
            obj["metadata"]["namespace"] = json!("elsewhere");
            bad(Expect::Refused(400, "BadRequest"))
        }
        6 => {
            obj["data"] = json!({"k": junk_value(rng)});
            bad(Expect::Refused(400, "BadRequest"))
        }
        7 => {
            obj["metadata"]["labels"] = json!({"bad key!": "x", "k": "-bad value-"});
            bad(Expect::Refused(422, "Invalid"))
        }
        8 => {
            // An invalid name: on create, the name is checked; elsewhere it differs from the URL.
            obj["metadata"]["name"] = json!(bad_name(rng));
            match verb {
                Verb::Create => bad(Expect::Refused(422, "Invalid")),
                _ => bad(Expect::Refused(400, "BadRequest")),
            }
        }
        9 => {
            // Not JSON (or YAML) at all.
            let garbage: &[&[u8]] = &[
                b"{",
                b"{\"metadata\":",
                b"\xff\xfe",
                b"[1,",
                b"a: [b",
                b"\"\\u00\"",
            ];
            return (
                garbage[rng.random_range(0..garbage.len())].to_vec(),
                Expect::Refused(400, "BadRequest"),
                "garbage".into(),
            );
        }
        10 => {
            // A body of another JSON type than an object.
            let v = junk_value(rng);
            if v.is_object() {
                obj = json!(null);
            } else {
                obj = v;
            }
            bad(Expect::ClientError)
        }
        _ => bad(Expect::Accepted),
    };
    let body = match verb {
        Verb::Create | Verb::Update | Verb::MergePatch | Verb::StrategicPatch => {
            serde_json::to_vec(&obj).unwrap()
        }
        // The same object as YAML would read: JSON is YAML.
        Verb::Apply => serde_json::to_vec(&obj).unwrap(),
        Verb::JsonPatch => {
            let ops = match (defect, &obj) {
                (11, _) => json!([{"op": "replace", "path": "/data/k", "value": format!("v{n}")}]),
                (2..=8, Value::Object(o)) => {
                    // The defective fields as a patch.
                    let ops: Vec<Value> = ["kind", "apiVersion", "metadata", "data"]
                        .iter()
                        .filter_map(|k| {
                            o.get(*k).map(
                                |v| json!({"op": "replace", "path": format!("/{k}"), "value": v}),
                            )
                        })
                        .collect();
                    Value::Array(ops)
                }
                (0 | 1, Value::Object(o)) => {
                    let key = if defect == 0 { "kind" } else { "apiVersion" };
                    json!([{"op": "replace", "path": format!("/{key}"), "value": o[key]}])
                }
                _ => {
                    // Malformed patches: not a list, unknown op, a failing test, a bad path.
                    let patches = [
                        json!({"op": "add"}),
                        json!([{"op": "frobnicate", "path": "/data"}]),
                        json!([{"op": "test", "path": "/data/k", "value": "never"}]),
                        json!([{"op": "remove", "path": "/nope/deeper"}]),
                        json!([{"op": "add", "path": "no-slash", "value": 1}]),
                        json!([{"path": "/data/k"}]),
                    ];
                    return (
                        serde_json::to_vec(&patches[rng.random_range(0..patches.len())]).unwrap(),
                        Expect::ClientError,
                        "malformed JSON patch".into(),
                    );
                }
            };
            serde_json::to_vec(&ops).unwrap()
        }
    };
    // The defects a patch cannot express as kube-apiserver sees them: a merge patch of a
    // non-object, a JSON patch of a label map … still a 4xx, reasons vary.
    let expect = match (verb, expect) {
        (Verb::Create | Verb::Update | Verb::Apply, e) => e,
        (_, Expect::Accepted) => Expect::Accepted,
        (_, Expect::Refused(..) | Expect::ClientError) => Expect::ClientError,
    };
    (body, expect, what)
}

/// Everything a refused write must not touch: each ConfigMap of the namespace with its
/// resourceVersion and data, and the list's own resourceVersion.
async fn state(http: &reqwest::Client, base: &str) -> Value {
    let list: Value = http
        .get(format!("{base}/api/v1/namespaces/bi/configmaps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            json!([
                i["metadata"]["name"],
                i["metadata"]["resourceVersion"],
                i["data"],
                i["metadata"]["labels"]
            ])
        })
        .collect();
    json!({"rv": list["metadata"]["resourceVersion"], "items": items})
}

fn check_status(what: &str, code: u16, v: &Value) {
    assert_eq!(v["kind"], "Status", "{what}: {v}");
    assert_eq!(v["apiVersion"], "v1", "{what}: {v}");
    assert_eq!(v["status"], "Failure", "{what}: {v}");
    assert_eq!(v["code"], code, "{what}: {v}");
    assert!(
        v["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{what}: no reason: {v}"
    );
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: no message: {v}"
    );
}

#[tokio::test]
async fn generated_bad_bodies_get_a_status_and_change_nothing() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "bi"]);
    sim.ok(&[
        "create",
        "configmap",
        "target",
        "-n",
        "bi",
        "--from-literal=k=v",
    ]);
    let http = sim.admin_http();
    let base = sim.url.clone();
    let n: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let mut rng = StdRng::seed_from_u64(0x00b4_db0d);
    let mut before = state(&http, &base).await;
    let (mut refused, mut accepted, mut dry) = (0usize, 0usize, 0usize);
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..n {
        let verb = Verb::ALL[rng.random_range(0..Verb::ALL.len())];
        let (body, expect, defect) = case(&mut rng, verb, i);
        let dry_run = rng.random_range(0..5) == 0;
        let mut url = match verb {
            Verb::Create => format!("{base}/api/v1/namespaces/bi/configmaps"),
            _ => format!("{base}/api/v1/namespaces/bi/configmaps/target"),
        };
        let mut params = Vec::new();
        if matches!(verb, Verb::Apply) && rng.random_range(0..6) != 0 {
            // Forced: `target` was created by kubectl, whose fields would conflict first.
            params.push("fieldManager=bad-input&force=true");
        }
        if dry_run {
            params.push("dryRun=All");
        }
        if !params.is_empty() {
            url = format!("{url}?{}", params.join("&"));
        }
        // Apply without a fieldManager is refused whatever the body says.
        let expect = if matches!(verb, Verb::Apply) && !url.contains("fieldManager") {
            if matches!(expect, Expect::Accepted) {
                Expect::Refused(400, "BadRequest")
            } else {
                Expect::ClientError
            }
        } else {
            expect
        };
        let what = format!(
            "case {i}: {verb:?} {defect} {url} {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        );
        let response = http
            .request(verb.method(), &url)
            .header("content-type", verb.content_type())
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let code = response.status().as_u16();
        let text = response.text().await.unwrap();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: {code} answer is not JSON ({e}): {text}"));
        assert!(code < 500, "{what} → {code}: {v}");
        let after = state(&http, &base).await;
        match expect {
            Expect::Accepted => {
                assert!(
                    code == 200 || code == 201,
                    "{what}: a valid write → {code}: {v}"
                );
                if dry_run {
                    dry += 1;
                    assert_eq!(after, before, "{what}: a dry run changed the store");
                } else {
                    accepted += 1;
                    assert_ne!(after, before, "{what}: an accepted write changed nothing");
                    before = after;
                }
            }
            Expect::Refused(want, reason) => {
                check_status(&what, code, &v);
                assert_eq!(
                    (code, v["reason"].as_str().unwrap()),
                    (want, reason),
                    "{what}: {v}"
                );
                assert_eq!(after, before, "{what}: a refused write changed the store");
                refused += 1;
                *reasons.entry(format!("{code} {reason}")).or_default() += 1;
            }
            Expect::ClientError => {
                assert!(
                    (400..500).contains(&code),
                    "{what}: a bad write → {code}: {v}"
                );
                check_status(&what, code, &v);
                assert_eq!(after, before, "{what}: a refused write changed the store");
                refused += 1;
                *reasons
                    .entry(format!("{code} {}", v["reason"].as_str().unwrap()))
                    .or_default() += 1;
            }
        }
    }
    // Still serving, and the original object is intact apart from accepted writes.
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    report(format!(
        "kube-sim write bodies (create, update, merge/strategic/JSON patch, apply): {n} generated cases, 0 5xx, {refused} refused with a Status and the store unchanged ({reasons:?}), {accepted} valid writes, {dry} dry runs that changed nothing"
    ));
}

/// Appends the line to the resilience report `dev/test` prints after the suite (the same file
/// and format as the portal tests' `helpers::report`).
fn report(line: String) {
    use std::io::Write;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("resilience-report.txt");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.write_all(format!("resilience: bad input: {line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": "bi"}},
            "template": {
                "metadata": {"labels": {"app": "bi"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/x:1"}]},
            },
        },
    })
}

/// Typed specs and a cluster-scoped kind: the defects kube-apiserver refuses as a decode error
/// (400) or in validation (422), each against a fresh name so only the defect is on trial.
#[tokio::test]
async fn typed_specs_and_cluster_scoped_names_are_refused_like_kube_apiserver() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "bi"]);
    let http = sim.admin_http();
    let base = sim.url.clone();
    let deployments = format!("{base}/apis/apps/v1/namespaces/bi/deployments");
    let namespaces = format!("{base}/api/v1/namespaces");
    type Defect = fn(&mut Value);
    let deployment_defects: Vec<(&str, Defect, u16, &str)> = vec![
        (
            "replicas a string",
            |d| d["spec"]["replicas"] = json!("two"),
            400,
            "BadRequest",
        ),
        (
            "replicas a float",
            |d| d["spec"]["replicas"] = json!(1.5),
            400,
            "BadRequest",
        ),
        ("spec a list", |d| d["spec"] = json!([]), 400, "BadRequest"),
        (
            "containers a string",
            |d| d["spec"]["template"]["spec"]["containers"] = json!("c"),
            400,
            "BadRequest",
        ),
        (
            "a container name a number",
            |d| d["spec"]["template"]["spec"]["containers"][0]["name"] = json!(5),
            400,
            "BadRequest",
        ),
        (
            "negative replicas",
            |d| d["spec"]["replicas"] = json!(-1),
            422,
            "Invalid",
        ),
        (
            "no selector",
            |d| {
                d["spec"].as_object_mut().unwrap().remove("selector");
            },
            422,
            "Invalid",
        ),
        (
            "a selector the template does not match",
            |d| d["spec"]["selector"]["matchLabels"]["app"] = json!("other"),
            422,
            "Invalid",
        ),
        (
            "no containers",
            |d| d["spec"]["template"]["spec"]["containers"] = json!([]),
            422,
            "Invalid",
        ),
        (
            "a container name with capitals",
            |d| d["spec"]["template"]["spec"]["containers"][0]["name"] = json!("Bad_Name"),
            422,
            "Invalid",
        ),
        (
            "a container without an image",
            |d| {
                d["spec"]["template"]["spec"]["containers"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("image");
            },
            422,
            "Invalid",
        ),
        (
            "the kind of another group",
            |d| d["kind"] = json!("Job"),
            400,
            "BadRequest",
        ),
    ];
    let namespace_names: Vec<(String, u16, &str)> = vec![
        ("UPPER".into(), 422, "Invalid"),
        ("dots.are.not.labels".into(), 422, "Invalid"),
        ("a".repeat(64), 422, "Invalid"),
        ("-lead".into(), 422, "Invalid"),
        ("ok-but-kind-wrong".into(), 400, "BadRequest"),
    ];
    let list = |url: String| {
        let http = http.clone();
        async move {
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            let names: Vec<Value> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].clone())
                .collect();
            names
        }
    };
    let before = (
        list(deployments.clone()).await,
        list(namespaces.clone()).await,
    );
    let mut tried = 0;
    for (i, (what, defect, code, reason)) in deployment_defects.iter().enumerate() {
        let mut body = deployment(&format!("d{i}"));
        defect(&mut body);
        for content_type in ["application/json", "application/yaml"] {
            let sent = if content_type == "application/json" {
                serde_json::to_vec(&body).unwrap()
            } else {
                // JSON is YAML; the YAML path must refuse alike.
                serde_json::to_vec(&body).unwrap()
            };
            let r = http
                .post(&deployments)
                .header("content-type", content_type)
                .body(sent)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            check_status(what, status, &v);
            assert_eq!(
                (status, v["reason"].as_str().unwrap()),
                (*code, *reason),
                "{what} ({content_type}): {v}"
            );
            tried += 1;
        }
    }
    for (name, code, reason) in &namespace_names {
        let kind = if reason == &"BadRequest" {
            "Pod"
        } else {
            "Namespace"
        };
        let body = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
        let r = http.post(&namespaces).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        check_status(name, status, &v);
        assert_eq!(
            (status, v["reason"].as_str().unwrap()),
            (*code, *reason),
            "namespace {name:?}: {v}"
        );
        tried += 1;
    }
    let after = (
        list(deployments.clone()).await,
        list(namespaces.clone()).await,
    );
    assert_eq!(after, before, "a refused create left an object behind");
    // The valid shapes are accepted, so the refusals above were about their defects.
    let r = http
        .post(&deployments)
        .json(&deployment("d-ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http
        .post(&namespaces)
        .json(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ok-ns", "namespace": "ignored"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    report(format!(
        "kube-sim typed specs and cluster-scoped names (Deployment field types and rules, Namespace names): {tried} refusals, each the code and reason kube-apiserver gives, nothing stored"
    ));
}
