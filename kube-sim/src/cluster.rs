//! One simulated API server: its store, kinds, keys, authenticators, listener and controllers.
//! The host cluster and every nested (virtual) cluster are instances of this.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::apply::{self, Scope};
use crate::auth::UserInfo;
use crate::auth::jwt::Es256Key;
use crate::auth::oidc::{OidcAuthenticator, OidcConfig};
use crate::faults::Faults;
use crate::pki::{Ca, CertRequest, Issued};
use crate::resources::{GroupResource, Registry};
use crate::store::{Store, StoreError};
use crate::{controllers, crds, defaults, rbac, server};

pub struct ClusterConfig {
    /// Shown in logs and kubeconfigs.
    pub name: String,
    pub listen: SocketAddr,
    pub ca: Arc<Ca>,
    /// Keys and nested clusters' data persist here when set.
    pub state_dir: Option<PathBuf>,
    /// Snapshot of the store, loaded at start and written on change and at stop.
    pub state_file: Option<PathBuf>,
    pub kubeconfig_out: Option<PathBuf>,
    pub job_delay: Duration,
    pub oidc: Option<OidcConfig>,
    pub static_tokens: HashMap<String, UserInfo>,
    /// Whether nested clusters may trust an http:// OIDC issuer (--oidc-allow-http-issuer).
    pub allow_http_oidc: bool,
    /// Whether cert-manager is installed (its CRDs, namespace and controller): true for the
    /// host, false for virtual clusters, which start as bare as real vClusters do.
    pub cert_manager: bool,
    /// Watch events kept for resumption (older resourceVersions get 410 Gone).
    pub watch_history: usize,
    /// Names written into the kubeconfig (cluster, context, user).
    pub kubeconfig_names: (String, String, String),
}

pub struct Cluster {
    pub cfg: ClusterConfig,
    pub store: Store,
    pub registry: Registry,
    pub sa_key: Es256Key,
    pub oidc: Option<OidcAuthenticator>,
    pub static_tokens: HashMap<String, UserInfo>,
    pub faults: Faults,
    pub cancel: CancellationToken,
    pub admin: Issued,
    addr: OnceLock<SocketAddr>,
    ns_kick: Notify,
    /// Virtual clusters this cluster hosts, by (namespace, name).
    pub nested: Mutex<HashMap<(String, String), Arc<Cluster>>>,
    /// Serialises snapshot writes (the debounced writer and the one at stop).
    snapshot_lock: Mutex<()>,
    /// Jobs whose completion is already scheduled (by uid).
    jobs_scheduled: Mutex<std::collections::HashSet<String>>,
}

fn load_or_create_sa_key(state_dir: Option<&PathBuf>) -> Result<Es256Key> {
    let Some(dir) = state_dir else {
        return Ok(Es256Key::generate());
    };
    let path = dir.join("sa.key.der");
    if let Ok(der) = std::fs::read(&path) {
        return Es256Key::from_pkcs8(&der).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = Es256Key::generate();
    write_private(&path, key.pkcs8())?;
    Ok(key)
}

pub fn write_private(path: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

impl Cluster {
    pub async fn start(cfg: ClusterConfig) -> Result<Arc<Cluster>> {
        if let Some(d) = &cfg.state_dir {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let sa_key = load_or_create_sa_key(cfg.state_dir.as_ref())?;
        let oidc = match &cfg.oidc {
            Some(o) => {
                o.check().map_err(|e| anyhow::anyhow!(e))?;
                Some(OidcAuthenticator::new(o.clone())?)
            }
            None => None,
        };
        let admin = cfg.ca.issue(&CertRequest {
            common_name: Some("kubernetes-admin".into()),
            organizations: vec!["system:masters".into()],
            client_auth: true,
            ..Default::default()
        })?;
        let serving = cfg.ca.issue(&CertRequest {
            common_name: Some("kube-apiserver".into()),
            dns_names: [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ip_addresses: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            server_auth: true,
            ..Default::default()
        })?;
        let tls = server::tls_config(&cfg.ca.cert_pem, &serving.cert_pem, &serving.key_pem)?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("listening on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let static_tokens = cfg.static_tokens.clone();
        let history = cfg.watch_history;
        let cluster = Arc::new(Cluster {
            cfg,
            store: Store::with_history(history),
            registry: Registry::new(),
            sa_key,
            oidc,
            static_tokens,
            faults: Faults::default(),
            cancel: CancellationToken::new(),
            admin,
            addr: OnceLock::new(),
            ns_kick: Notify::new(),
            nested: Mutex::new(HashMap::new()),
            jobs_scheduled: Mutex::new(Default::default()),
            snapshot_lock: Mutex::new(()),
        });
        let _ = cluster.addr.set(addr);
        if let Some(f) = &cluster.cfg.state_file
            && f.exists()
        {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let snap: Value =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
            cluster.store.load(&snap);
        }
        cluster.seed();
        controllers::crd::refresh_registry(&cluster);
        controllers::start(&cluster);
        tokio::spawn(server::serve(cluster.clone(), listener, tls));
        if let Some(path) = &cluster.cfg.kubeconfig_out {
            write_private(path, cluster.kubeconfig().as_bytes())?;
        }
        if cluster.cfg.state_file.is_some() {
            tokio::spawn(snapshot_writer(cluster.clone()));
        }
        tracing::info!(cluster = %cluster.cfg.name, url = %cluster.url(), "serving");
        Ok(cluster)
    }

    pub fn addr(&self) -> SocketAddr {
        *self.addr.get().expect("bound")
    }

    pub fn address(&self) -> String {
        self.addr().to_string()
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr())
    }

    pub fn kubeconfig(&self) -> String {
        let (cluster, context, user) = &self.cfg.kubeconfig_names;
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\ncontexts:\n- context:\n    cluster: {cluster}\n    user: {user}\n  name: {context}\ncurrent-context: {context}\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
            ca = B64.encode(&self.cfg.ca.cert_pem),
            server = self.url(),
            cert = B64.encode(&self.admin.cert_pem),
            key = B64.encode(&self.admin.key_pem),
        )
    }

    /// Stops the listener, controllers and every nested cluster, and writes the snapshot.
    pub fn stop(&self) {
        let nested: Vec<Arc<Cluster>> = self
            .nested
            .lock()
            .unwrap()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for n in nested {
            n.stop();
        }
        self.cancel.cancel();
        self.write_snapshot();
    }

    pub fn write_snapshot(&self) {
        if let Some(f) = &self.cfg.state_file {
            let _guard = self
                .snapshot_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let data = serde_json::to_vec(&self.store.dump()).unwrap_or_default();
            if let Err(e) = write_private(f, &data) {
                tracing::warn!("snapshot {}: {e}", f.display());
            }
        }
    }

    pub fn jobs_scheduled(&self, uid: &str) -> bool {
        self.jobs_scheduled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(uid)
    }

    pub fn jobs_mark_scheduled(&self, uid: &str) {
        self.jobs_scheduled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uid.to_string());
    }

    pub fn kick_namespace_controller(&self) {
        self.ns_kick.notify_one();
    }

    pub async fn namespace_kicked(&self) {
        self.ns_kick.notified().await
    }

    pub fn sa_issuer_discovery(&self) -> Value {
        json!({
            "issuer": crate::auth::serviceaccount::ISSUER,
            "jwks_uri": format!("{}/openid/v1/jwks", self.url()),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    /// Drops ownerReferences to `uid` from every object (propagationPolicy=Orphan).
    pub fn orphan_dependents(&self, uid: &str) {
        for (gr, obj) in self.store.dependents(uid) {
            let ns = crate::api::meta(&obj, "namespace").to_string();
            let name = crate::api::meta(&obj, "name").to_string();
            let _ = self.update_with(&gr, &ns, &name, "garbage-collector", |o| {
                if let Some(Value::Array(refs)) = o.pointer_mut("/metadata/ownerReferences") {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                }
                true
            });
        }
    }

    /// Creates an object as a controller would through the API: defaulted, with managedFields.
    pub fn create_internal(
        &self,
        gr: &GroupResource,
        mut obj: Value,
        manager: &str,
    ) -> Result<Value, StoreError> {
        let def = self.registry.get(gr);
        if obj.pointer("/metadata/uid").is_none() {
            obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        }
        if let Some(def) = &def {
            if def.generation {
                obj["metadata"]["generation"] = json!(1);
            }
            defaults::apply(def, &mut obj, None);
            let av = obj
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("v1")
                .to_string();
            apply::record_update(
                None,
                &mut obj,
                manager,
                &av,
                Scope::Main {
                    has_status: def.status,
                },
            );
        }
        self.store.create(gr, obj)
    }

    /// Read-modify-write with retries on conflict, as controllers do. `f` returns false to
    /// skip the write.
    pub fn update_with(
        &self,
        gr: &GroupResource,
        ns: &str,
        name: &str,
        manager: &str,
        f: impl Fn(&mut Value) -> bool,
    ) -> Result<Option<Value>, StoreError> {
        let def = self.registry.get(gr);
        for _ in 0..10 {
            let Some(old) = self.store.get(gr, ns, name) else {
                return Err(StoreError::NotFound);
            };
            let mut next = old.clone();
            if !f(&mut next) {
                return Ok(Some(old));
            }
            if let Some(def) = &def {
                let av = next
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("v1")
                    .to_string();
                let status_changed = next.get("status") != old.get("status");
                let scope = if def.status && status_changed && spec_equal(&old, &next) {
                    Scope::Status
                } else {
                    Scope::Main {
                        has_status: def.status,
                    }
                };
                apply::record_update(Some(&old), &mut next, manager, &av, scope);
            }
            let rv = crate::api::meta(&old, "resourceVersion").to_string();
            match self.store.update(gr, next, Some(&rv)) {
                Ok((v, _)) => return Ok(Some(v)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    fn seed(&self) {
        let ns_gr = GroupResource::new("", "namespaces");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if self.store.get(&ns_gr, "", ns).is_none() {
                let _ = self.create_internal(
                    &ns_gr,
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    "kube-apiserver",
                );
            }
        }
        let cr = GroupResource::new("rbac.authorization.k8s.io", "clusterroles");
        for r in rbac::bootstrap::cluster_roles() {
            let name = r["metadata"]["name"].as_str().unwrap().to_string();
            if self.store.get(&cr, "", &name).is_none() {
                let _ = self.create_internal(&cr, r, "kube-apiserver");
            }
        }
        let crb = GroupResource::new("rbac.authorization.k8s.io", "clusterrolebindings");
        for b in rbac::bootstrap::cluster_role_bindings() {
            let name = b["metadata"]["name"].as_str().unwrap().to_string();
            if self.store.get(&crb, "", &name).is_none() {
                let _ = self.create_internal(&crb, b, "kube-apiserver");
            }
        }
        if !self.cfg.cert_manager {
            return;
        }
        for r in rbac::bootstrap::cert_manager_roles() {
            let name = r["metadata"]["name"].as_str().unwrap().to_string();
            if self.store.get(&cr, "", &name).is_none() {
                let _ = self.create_internal(&cr, r, "helm");
            }
        }
        let crd = GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions");
        for c in crds::cert_manager() {
            let name = c["metadata"]["name"].as_str().unwrap().to_string();
            if self.store.get(&crd, "", &name).is_none() {
                let _ = self.create_internal(&crd, c, "helm");
            }
        }
        let ns_cm = GroupResource::new("", "namespaces");
        if self.store.get(&ns_cm, "", "cert-manager").is_none() {
            let _ = self.create_internal(&ns_cm, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}), "helm");
        }
    }
}

/// Whether two versions of an object differ only in metadata and status.
pub fn spec_equal(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(a) == strip(b)
}

impl Cluster {
    /// Deletes as the API would for a controller: objects with finalizers get a
    /// deletionTimestamp and wait; others go at once.
    pub fn delete_internal(&self, gr: &GroupResource, ns: &str, name: &str) {
        let Some(obj) = self.store.get(gr, ns, name) else {
            return;
        };
        let has_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let is_namespace = gr.group.is_empty() && gr.resource == "namespaces";
        if has_finalizers || is_namespace {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                let _ = self.update_with(gr, ns, name, "garbage-collector", |o| {
                    o["metadata"]["deletionTimestamp"] = json!(crate::store::now_rfc3339());
                    o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    if is_namespace {
                        o["status"]["phase"] = json!("Terminating");
                    }
                    true
                });
                if is_namespace {
                    self.kick_namespace_controller();
                }
            }
            return;
        }
        let _ = self.store.delete(gr, ns, name, None, None);
    }
}

async fn snapshot_writer(cluster: Arc<Cluster>) {
    loop {
        tokio::select! {
            _ = cluster.cancel.cancelled() => return,
            _ = cluster.store.changed.notified() => {}
        }
        // Coalesce bursts of writes into one snapshot.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let c = cluster.clone();
        let _ = tokio::task::spawn_blocking(move || c.write_snapshot()).await;
    }
}
