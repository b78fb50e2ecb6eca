//! OIDC id_tokens, validated as kube-apiserver's --oidc-* flags do, and RBAC on the result.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Options, Sim};
use kube_sim::auth::jwt::Es256Key;

/// A signing key of the test issuer.
pub enum Key {
    Ec(Es256Key),
    Rsa(ring::signature::RsaKeyPair, String),
}

impl Key {
    /// An RSA key (what most real providers, and the stack's, sign id_tokens with).
    pub fn rsa(kid: &str) -> Key {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .unwrap();
        let pem = String::from_utf8(out.stdout).unwrap();
        let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        Key::Rsa(
            ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap(),
            kid.to_string(),
        )
    }

    fn jwk(&self) -> Value {
        use base64::Engine;
        let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
        match self {
            Key::Ec(k) => k.jwk(),
            Key::Rsa(k, kid) => {
                let (n, e) = rsa_components(k);
                json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b(&n), "e": b(&e)})
            }
        }
    }

    fn sign(&self, claims: &Value) -> String {
        use base64::Engine;
        let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
        match self {
            Key::Ec(k) => k.sign(claims),
            Key::Rsa(k, kid) => {
                let signed = format!(
                    "{}.{}",
                    b(json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
                        .to_string()
                        .as_bytes()),
                    b(claims.to_string().as_bytes())
                );
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    signed.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                format!("{signed}.{}", b(&sig))
            }
        }
    }
}

fn rsa_components(k: &ring::signature::RsaKeyPair) -> (Vec<u8>, Vec<u8>) {
    let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
    (c.n, c.e)
}

/// A minimal OpenID provider: discovery and JWKS over plain HTTP; tokens are signed with the
/// newest key, and keys can be rotated.
pub struct Issuer {
    pub url: String,
    keys: std::sync::Arc<std::sync::Mutex<Vec<Key>>>,
}

impl Issuer {
    pub async fn start() -> Issuer {
        Self::start_with(Key::Ec(Es256Key::generate())).await
    }

    pub async fn start_with(key: Key) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys = std::sync::Arc::new(std::sync::Mutex::new(vec![key]));
        let (u, k) = (url.clone(), keys.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (u, k) = (u.clone(), k.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]);
                    let path = req.split_whitespace().nth(1).unwrap_or("/");
                    let body = match path {
                        "/.well-known/openid-configuration" => json!({"issuer": u, "jwks_uri": format!("{u}/jwks"), "id_token_signing_alg_values_supported": ["RS256", "ES256"]}),
                        "/jwks" => {
                            let keys: Vec<Value> = k.lock().unwrap().iter().map(Key::jwk).collect();
                            json!({"keys": keys})
                        }
                        _ => json!({}),
                    }
                    .to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        body.len(),
                        body
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Issuer { url, keys }
    }

    /// Adds a key; tokens are signed with it from now on.
    pub fn rotate(&self, key: Key) {
        self.keys.lock().unwrap().push(key);
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.keys.lock().unwrap().last().unwrap().sign(claims)
    }

    pub fn token(&self, user: &str, groups: &[&str], ttl: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(&json!({"iss": self.url, "aud": "kubernetes", "sub": user, "preferred_username": user, "groups": groups, "iat": now, "exp": now + ttl}))
    }

    pub fn sim_args(&self) -> Vec<String> {
        [
            "--oidc-issuer-url",
            &self.url,
            "--oidc-client-id",
            "kubernetes",
            "--oidc-username-claim",
            "preferred_username",
            "--oidc-username-prefix",
            "oidc:",
            "--oidc-groups-claim",
            "groups",
            "--oidc-groups-prefix",
            "oidc:",
            "--oidc-allow-http-issuer",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

async fn create_cm(sim: &Sim, token: &str, ns: &str) -> (u16, Value) {
    let r = sim
        .anonymous_http()
        .post(format!("{}/api/v1/namespaces/{ns}/configmaps", sim.url))
        .bearer_auth(token)
        .json(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-oidc"}}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn oidc_group_bound_to_admin_in_one_namespace() {
    let issuer = Issuer::start().await;
    let sim = Sim::start_with(Options {
        extra_args: issuer.sim_args(),
        ..Default::default()
    });
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&["create", "ns", "b"]);
    sim.ok(&[
        "create",
        "rolebinding",
        "team-admin",
        "-n",
        "a",
        "--clusterrole=admin",
        "--group=oidc:team-a",
    ]);
    let token = issuer.token("jjackson", &["team-a", "other"], 600);

    let (code, body) = create_cm(&sim, &token, "a").await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = create_cm(&sim, &token, "b").await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["reason"], "Forbidden");
    assert_eq!(
        body["message"],
        "configmaps is forbidden: User \"oidc:jjackson\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"b\""
    );

    // Who the server thinks we are.
    let r = sim
        .anonymous_http()
        .post(format!(
            "{}/apis/authentication.k8s.io/v1/selfsubjectreviews",
            sim.url
        ))
        .bearer_auth(&token)
        .json(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}))
        .send()
        .await
        .unwrap();
    let who: Value = r.json().await.unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "oidc:jjackson");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        json!(["oidc:team-a", "oidc:other", "system:authenticated"])
    );

    // The same through kubectl with a token in the kubeconfig.
    let kc = sim.dir.join("oidc.kubeconfig");
    let admin_kc = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let ca_line = admin_kc
        .lines()
        .find(|l| l.contains("certificate-authority-data"))
        .unwrap()
        .trim();
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {}\n    {ca_line}\ncontexts:\n- name: c\n  context: {{cluster: s, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n",
            sim.url
        ),
    )
    .unwrap();
    let out = crate::harness::kubectl_with(
        &kc,
        &["create", "configmap", "via-kubectl", "-n", "a"],
        None,
    );
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let out = crate::harness::kubectl_with(&kc, &["get", "configmaps", "-n", "b"], None);
    assert!(
        crate::harness::stderr(&out).contains("forbidden"),
        "{}",
        crate::harness::stderr(&out)
    );
}

#[tokio::test]
async fn bad_oidc_tokens_are_unauthorized() {
    let issuer = Issuer::start().await;
    let sim = Sim::start_with(Options {
        extra_args: issuer.sim_args(),
        ..Default::default()
    });
    sim.ok(&["create", "ns", "a"]);
    let expired = issuer.token("u", &[], -10);
    let forged = Es256Key::generate().sign(&json!({"iss": issuer.url, "aud": "kubernetes", "preferred_username": "u", "exp": chrono::Utc::now().timestamp() + 600}));
    let wrong_aud = issuer.sign(&json!({"iss": issuer.url, "aud": "someone-else", "preferred_username": "u", "exp": chrono::Utc::now().timestamp() + 600}));
    let future = issuer.sign(&json!({"iss": issuer.url, "aud": "kubernetes", "preferred_username": "u", "nbf": chrono::Utc::now().timestamp() + 3600, "exp": chrono::Utc::now().timestamp() + 7200}));
    for (what, t) in [
        ("expired", expired),
        ("wrongly signed", forged),
        ("wrong audience", wrong_aud),
        ("not yet valid", future),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let (code, body) = create_cm(&sim, &t, "a").await;
        assert_eq!(code, 401, "{what}: {body}");
        assert_eq!(body["reason"], "Unauthorized", "{what}");
    }
    // No credentials at all is anonymous: authenticated as nobody, so forbidden, not 401.
    let r = sim
        .anonymous_http()
        .get(format!("{}/api/v1/namespaces", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = sim
        .anonymous_http()
        .get(format!("{}/readyz", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn rs256_tokens_and_key_rotation() {
    let issuer = Issuer::start_with(Key::rsa("rsa-1")).await;
    let sim = Sim::start_with(Options {
        extra_args: issuer.sim_args(),
        ..Default::default()
    });
    sim.ok(&["create", "ns", "a"]);
    sim.ok(&[
        "create",
        "rolebinding",
        "team-admin",
        "-n",
        "a",
        "--clusterrole=admin",
        "--group=oidc:team-a",
    ]);
    let (code, body) = create_cm(&sim, &issuer.token("u1", &["team-a"], 600), "a").await;
    assert_eq!(code, 201, "{body}");
    // The provider rotates to a key the simulator has not seen: it refetches the JWKS.
    issuer.rotate(Key::rsa("rsa-2"));
    let r = sim
        .anonymous_http()
        .get(format!("{}/api/v1/namespaces/a/configmaps", sim.url))
        .bearer_auth(issuer.token("u2", &["team-a"], 600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
