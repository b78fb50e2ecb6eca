//! What a tenant's groups get on the host: the chart's host role (never `admin`, which reads
//! the vCluster's admin certificate), or nothing for templates with `host_access = "none"`; and
//! `tenantry reconcile` moving tenants built with other bindings to what provisioning builds now.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenantry::config::HostAccess;
use tenantry::domain::RequestStatus;
use tenantry::provision::context::Backends;
use tenantry::provision::reconcile::{Selection, reconcile};

use crate::helpers::access::{kubectl, kubectls};
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::provision::{
    approved_request, audit_count, cleanup_shared, spawn_app, unique_name, wait_for_status,
};

const RB: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces";

#[tokio::test]
async fn reconcile_moves_an_admin_binding_to_the_host_role_and_removes_bindings_a_template_drops() {
    let sim = KubeSim::start(100).await;
    let app = spawn_app(&sim, &[]).await;
    let name = unique_name("hostrole");
    let id = approved_request(&app.db, &name).await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(90)).await;
    let admins = format!("{RB}/{name}/rolebindings/tenantry-admins");
    let viewers = format!("{RB}/{name}/rolebindings/tenantry-viewers");
    let role_of = |path: String| {
        let sim = &sim;
        async move { sim.get(&path).await.map(|b| b["roleRef"]["name"].clone()) }
    };
    assert_eq!(
        role_of(admins.clone()).await,
        Some(json!("tenantry-tenant-host"))
    );
    assert_eq!(role_of(viewers.clone()).await, Some(json!("view")));

    // A tenant built when admins got `admin` (a roleRef cannot be changed in place).
    let (ok, _, err) = kubectl(
        &kubectls()[0],
        &sim.kubeconfig,
        &["delete", "rolebinding", "tenantry-admins", "-n", &name],
    )
    .await;
    assert!(ok, "{err}");
    sim.apply(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "tenantry-admins", "namespace": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "tenant1-admins"}],
    }))
    .await;
    let backends = Backends::new(Arc::new(app.config.clone()), app.db.clone()).unwrap();
    let results = reconcile(&backends, Selection::Named(vec![name.clone()]), "ops")
        .await
        .unwrap();
    assert_eq!(results, vec![(name.clone(), Ok(()))]);
    assert_eq!(
        role_of(admins.clone()).await,
        Some(json!("tenantry-tenant-host"))
    );
    assert_eq!(audit_count(&app.db, id, "tenant_reconciled").await, 1);

    // The template stops granting host access: both bindings go.
    let mut config = app.config.clone();
    config.templates.get_mut("dev").unwrap().host_access = HostAccess::None;
    let backends = Backends::new(Arc::new(config), app.db.clone()).unwrap();
    let results = reconcile(&backends, Selection::Named(vec![name.clone()]), "ops")
        .await
        .unwrap();
    assert_eq!(results, vec![(name.clone(), Ok(()))]);
    assert_eq!(role_of(admins).await, None);
    assert_eq!(role_of(viewers).await, None);

    let results = reconcile(&backends, Selection::Named(vec!["no-such".into()]), "ops")
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![(
            "no-such".to_owned(),
            Err("no ready tenant of that name".to_owned())
        )]
    );
    app.stop().await;
    cleanup_shared(&name).await;
}
