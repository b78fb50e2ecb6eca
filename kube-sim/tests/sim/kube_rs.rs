//! kube-rs against the simulator: typed CRUD, apply, watch (including a change made by kubectl).

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::harness::Sim;

#[tokio::test]
async fn typed_crud_and_apply() {
    let sim = Sim::start();
    let client = sim.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "k"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "k");
    let created = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "one", "labels": {"x": "1"}}, "data": {"a": "b"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let got = cms.get("one").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["a"], "b");
    let dup = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "one"}})).unwrap(),
        )
        .await
        .unwrap_err();
    match dup {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists")),
        e => panic!("{e}"),
    }
    let listed = cms
        .list(&ListParams::default().labels("x=1"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    let pp = PatchParams::apply("tenantry-test");
    let applied = cms.patch("two", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}, "data": {"k": "v"}}))).await.unwrap();
    let again = cms.patch("two", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}, "data": {"k": "v"}}))).await.unwrap();
    assert_eq!(
        applied.metadata.resource_version, again.metadata.resource_version,
        "second identical apply is a no-op"
    );
    let merged = cms
        .patch(
            "two",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"extra": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap().len(), 2);

    // Optimistic concurrency through kube-rs.
    let mut stale = got.clone();
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "c"}})),
    )
    .await
    .unwrap();
    stale.data = Some([("a".to_string(), "z".to_string())].into());
    match cms
        .replace("one", &PostParams::default(), &stale)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        e => panic!("{e}"),
    }

    cms.delete("one", &DeleteParams::default()).await.unwrap();
    match cms.get("one").await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "configmaps \"one\" not found");
        }
        e => panic!("{e}"),
    }
}

#[tokio::test]
async fn watch_sees_changes_including_kubectl_ones() {
    let sim = Sim::start();
    sim.ok(&["create", "ns", "w"]);
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    sim.ok(&[
        "create",
        "configmap",
        "from-kubectl",
        "-n",
        "w",
        "--from-literal=a=1",
    ]);
    sim.ok(&[
        "patch",
        "configmap",
        "from-kubectl",
        "-n",
        "w",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    sim.ok(&["delete", "configmap", "from-kubectl", "-n", "w"]);
    let mut seen = vec![];
    while seen.len() < 3 {
        match stream.try_next().await.unwrap().expect("stream ended") {
            WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("from-kubectl") => {
                seen.push("ADDED")
            }
            WatchEvent::Modified(cm) if cm.metadata.name.as_deref() == Some("from-kubectl") => {
                seen.push("MODIFIED")
            }
            WatchEvent::Deleted(cm) if cm.metadata.name.as_deref() == Some("from-kubectl") => {
                seen.push("DELETED")
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);

    // Resuming from an old resourceVersion replays what happened since.
    let mut replay = cms
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    match replay.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("from-kubectl")),
        e => panic!("{e:?}"),
    }

    // kube-runtime's watcher (list + watch, as controllers use it) sees a kubectl change too.
    let mut w = watcher(cms.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    sim.ok(&[
        "create",
        "configmap",
        "second",
        "-n",
        "w",
        "--from-literal=b=2",
    ]);
    loop {
        let cm = w.try_next().await.unwrap().unwrap();
        if cm.metadata.name.as_deref() == Some("second") {
            break;
        }
    }
}

#[tokio::test]
async fn watch_from_compacted_version_is_gone() {
    let sim = Sim::start_with(crate::harness::Options {
        extra_args: vec!["--watch-history".into(), "5".into()],
        ..Default::default()
    });
    sim.ok(&["create", "ns", "g"]);
    let client = sim.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "g");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..10 {
        sim.ok(&["create", "configmap", &format!("c{i}"), "-n", "g"]);
    }
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        e => panic!("expected 410, got {e:?}"),
    }
    let http = sim.admin_http();
    let r = http
        .get(format!(
            "{}/api/v1/namespaces?watch=1&resourceVersion=abc",
            sim.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
