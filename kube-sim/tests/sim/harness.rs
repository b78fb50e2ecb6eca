//! Starting private simulators and talking to them (kubectl, kube-rs, raw HTTPS).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Sim {
    pub url: String,
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
    pub ca_pem: String,
    args: Vec<String>,
    child: Child,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kube-sim-test-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Default)]
pub struct Options {
    pub extra_args: Vec<String>,
    /// Use this CA (cert, key PEM) instead of a fresh one.
    pub ca: Option<(String, String)>,
    /// Keep a snapshot (`--state-file`) in the simulator's directory.
    pub state_file: bool,
}

impl Sim {
    pub fn start() -> Sim {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Sim {
        let dir = temp_dir("sim");
        let (ca_pem, key_pem) = opts.ca.unwrap_or_else(|| {
            let ca = kube_sim::pki::Ca::generate("kube-sim test CA").unwrap();
            (ca.cert_pem.clone(), ca.key_pem().to_string())
        });
        std::fs::write(dir.join("ca.crt"), &ca_pem).unwrap();
        std::fs::write(dir.join("ca.key"), &key_pem).unwrap();
        let kubeconfig = dir.join("admin.kubeconfig");
        let p = |x: PathBuf| x.to_str().unwrap().to_string();
        let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--job-delay-ms", "100"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--ca-cert".into(),
            p(dir.join("ca.crt")),
            "--ca-key".into(),
            p(dir.join("ca.key")),
        ]);
        args.extend([
            "--kubeconfig-out".into(),
            p(kubeconfig.clone()),
            "--state-dir".into(),
            p(dir.join("state")),
        ]);
        if opts.state_file {
            args.extend(["--state-file".into(), p(dir.join("state.json"))]);
        }
        args.extend(opts.extra_args);
        let (child, url) = spawn(&args, &kubeconfig);
        Sim {
            url,
            kubeconfig,
            dir,
            ca_pem,
            args,
            child,
        }
    }

    /// Stops the simulator with SIGTERM (so it writes its snapshot) and starts it again with
    /// the same flags.
    pub fn restart(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "kube-sim exited with {exit}");
        let (child, url) = spawn(&self.args, &self.kubeconfig);
        self.child = child;
        self.url = url;
    }
}

fn spawn(args: &[String], kubeconfig: &Path) -> (Child, String) {
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
            .args(args)
            .env(
                "KUBE_SIM_LOG",
                std::env::var("KUBE_SIM_LOG").unwrap_or_else(|_| "kube_sim=warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kube-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        let url = ready["listening"].as_str().unwrap().to_string();
        assert_eq!(
            ready["kubeconfig"].as_str().unwrap(),
            kubeconfig.to_str().unwrap()
        );
        (child, url)
    }
}

impl Sim {
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_with(&self.kubeconfig, args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        kubectl_with(&self.kubeconfig, args, Some(stdin))
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub async fn client(&self) -> kube::Client {
        client_for(&self.kubeconfig).await
    }

    /// An HTTPS client presenting the admin certificate.
    pub fn admin_http(&self) -> reqwest::Client {
        let kc = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let field = |k: &str| -> String {
            let line = kc.lines().find(|l| l.trim_start().starts_with(k)).unwrap();
            let b64 = line.split_once(':').unwrap().1.trim();
            use base64::Engine;
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
            .unwrap()
        };
        let identity = reqwest::Identity::from_pem(
            format!(
                "{}{}",
                field("client-certificate-data"),
                field("client-key-data")
            )
            .as_bytes(),
        )
        .unwrap();
        http_builder(&self.ca_pem)
            .identity(identity)
            .build()
            .unwrap()
    }

    /// An HTTPS client with no credentials (add a bearer token per request).
    pub fn anonymous_http(&self) -> reqwest::Client {
        http_builder(&self.ca_pem).build().unwrap()
    }
}

pub fn http_builder(ca_pem: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(30))
}

pub fn kubectl_with(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", kubeconfig.parent().unwrap())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("kubectl (the real one) must be installed");
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

pub async fn client_for(kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// Polls `f` until it returns Some, failing after `secs` seconds.
pub async fn eventually<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
}
