//! Jobs: a Job starts (one Pod, status.active), and after the configured delay completes with
//! the status fields and conditions the real Job controller sets — or fails, when annotated
//! `sim.tenantry.dev/fail: <reason>` or when a `run` fault rule matches. A completed Job that
//! deploys a vCluster hands over to the vCluster controller.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Events, Tick, vcluster};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::{EventType, now_rfc3339};

pub const FAIL_ANNOTATION: &str = "sim.tenantry.dev/fail";

fn jobs() -> GroupResource {
    GroupResource::new("batch", "jobs")
}

fn pods() -> GroupResource {
    GroupResource::new("", "pods")
}

fn finished(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                matches!(
                    c.get("type").and_then(Value::as_str),
                    Some("Complete") | Some("Failed")
                ) && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

pub async fn run(c: Arc<Cluster>, mut events: Events) {
    loop {
        match events.next().await {
            Tick::Stop => return,
            Tick::Resync => {
                for j in c.store.list(&jobs(), None).0 {
                    start(&c, &j);
                }
            }
            Tick::Event(ev) if ev.gr == jobs() && ev.typ != EventType::Deleted => {
                start(&c, &ev.object)
            }
            Tick::Event(_) => {}
        }
    }
}

fn start(c: &Arc<Cluster>, job: &Value) {
    if finished(job)
        || job.pointer("/metadata/deletionTimestamp").is_some()
        || job.pointer("/spec/suspend") == Some(&json!(true))
    {
        return;
    }
    if job.pointer("/status/startTime").is_some() {
        // Already running: only a restart (snapshot) needs its completion scheduled again.
        if job.pointer("/status/active").is_some()
            && !c.jobs_scheduled(crate::api::meta(job, "uid"))
        {
            schedule(c, job);
        }
        return;
    }
    let ns = crate::api::meta(job, "namespace").to_string();
    let name = crate::api::meta(job, "name").to_string();
    let started = c.update_with(&jobs(), &ns, &name, "job-controller", |o| {
        if o.pointer("/status/startTime").is_some() {
            return false;
        }
        o["status"] = json!({"startTime": now_rfc3339(), "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
        true
    });
    let Ok(Some(job)) = started else { return };
    create_pod(c, &job);
    schedule(c, &job);
}

fn create_pod(c: &Cluster, job: &Value) {
    let ns = crate::api::meta(job, "namespace");
    let name = crate::api::meta(job, "name");
    let suffix: String = (0..5)
        .map(|_| b"bcdfghjklmnpqrstvwxz2456789"[rand::random::<u32>() as usize % 27] as char)
        .collect();
    let mut labels = job
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["job-name"] = json!(name);
    let spec = job
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or(json!({}));
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{name}-{suffix}"),
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": crate::api::meta(job, "uid"), "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": spec,
        "status": {
            "phase": "Running",
            "startTime": now_rfc3339(),
            "podIP": "10.244.0.10",
            "containerStatuses": containers.iter().map(|ct| json!({"name": ct.get("name"), "image": ct.get("image"), "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": now_rfc3339()}}})).collect::<Vec<_>>(),
        },
    });
    let _ = c.create_internal(&pods(), pod, "job-controller");
}

fn schedule(c: &Arc<Cluster>, job: &Value) {
    let c2 = c.clone();
    let uid = crate::api::meta(job, "uid").to_string();
    let ns = crate::api::meta(job, "namespace").to_string();
    let name = crate::api::meta(job, "name").to_string();
    c.jobs_mark_scheduled(&uid);
    let delay = c.cfg.job_delay;
    tokio::spawn(async move {
        tokio::select! {
            _ = c2.cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        finish(&c2, &ns, &name, &uid).await;
    });
}

async fn finish(c: &Arc<Cluster>, ns: &str, name: &str, uid: &str) {
    let Some(job) = c.store.get(&jobs(), ns, name) else {
        return;
    };
    if crate::api::meta(&job, "uid") != uid
        || finished(&job)
        || job.pointer("/metadata/deletionTimestamp").is_some()
    {
        return;
    }
    let failure = job
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(FAIL_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| c.faults.take_job_failure(ns, name));
    // A Job that deploys a vCluster succeeds only once the virtual cluster is up, as the real
    // Job's `vcluster create` waits for it.
    let failure = match failure {
        Some(f) => Some(f),
        None => match vcluster::materialise(c, &job).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(cluster = %c.cfg.name, job = %name, "vcluster: {e:#}");
                Some("BackoffLimitExceeded".to_string())
            }
        },
    };
    let now = now_rfc3339();
    let _ = c.update_with(&jobs(), ns, name, "job-controller", |o| {
        if finished(o) {
            return false;
        }
        let start = o.pointer("/status/startTime").cloned().unwrap_or(json!(now));
        o["status"] = match &failure {
            None => json!({
                "startTime": start, "completionTime": now, "succeeded": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                ],
            }),
            Some(reason) => json!({
                "startTime": start, "failed": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                "conditions": [
                    {"type": "FailureTarget", "status": "True", "reason": reason, "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now},
                    {"type": "Failed", "status": "True", "reason": reason, "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now},
                ],
            }),
        };
        true
    });
    let (phase, exit, reason) = if failure.is_some() {
        ("Failed", 1, "Error")
    } else {
        ("Succeeded", 0, "Completed")
    };
    for (gr, pod) in c.store.dependents(uid) {
        if gr != pods() {
            continue;
        }
        let _ = c.update_with(&pods(), ns, crate::api::meta(&pod, "name"), "job-controller", |p| {
            p["status"]["phase"] = json!(phase);
            if let Some(Value::Array(cs)) = p.pointer_mut("/status/containerStatuses") {
                for cs in cs {
                    cs["ready"] = json!(false);
                    cs["started"] = json!(false);
                    cs["state"] = json!({"terminated": {"exitCode": exit, "reason": reason, "startedAt": now, "finishedAt": now}});
                }
            }
            true
        });
    }
}
