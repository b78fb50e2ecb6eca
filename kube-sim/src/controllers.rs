//! The controllers a real cluster runs beside its API server, reduced to what clients observe:
//! namespace lifecycle, garbage collection, CRD registration, ClusterRole aggregation,
//! ServiceAccount token secrets, workload readiness, Jobs, cert-manager and vCluster.

pub mod aggregation;
pub mod certmanager;
pub mod crd;
pub mod gc;
pub mod jobs;
pub mod namespace;
pub mod tokens;
pub mod vcluster;
pub mod workloads;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::cluster::Cluster;
use crate::store::Event;

pub fn start(cluster: &Arc<Cluster>) {
    tokio::spawn(namespace::run(cluster.clone(), Events::new(cluster)));
    tokio::spawn(gc::run(cluster.clone(), Events::new(cluster)));
    tokio::spawn(crd::run(cluster.clone(), Events::new(cluster)));
    tokio::spawn(aggregation::run(cluster.clone(), Events::new(cluster)));
    tokio::spawn(tokens::run(cluster.clone(), Events::new(cluster)));
    tokio::spawn(workloads::run(cluster.clone(), Events::new(cluster)));
    tokio::spawn(jobs::run(cluster.clone(), Events::new(cluster)));
    if cluster.cfg.cert_manager {
        tokio::spawn(certmanager::run(cluster.clone(), Events::new(cluster)));
    }
    tokio::spawn(vcluster::run(cluster.clone(), Events::new(cluster)));
}

pub enum Tick {
    /// Look at everything again (first call, or after falling behind the event stream).
    Resync,
    Event(Arc<Event>),
    Stop,
}

/// A controller's view of the store's event stream, subscribed before the controller task
/// starts so nothing written in between is missed.
pub struct Events {
    rx: broadcast::Receiver<Arc<Event>>,
    cancel: tokio_util::sync::CancellationToken,
    started: bool,
}

impl Events {
    pub fn new(cluster: &Cluster) -> Self {
        Events {
            rx: cluster.store.subscribe(),
            cancel: cluster.cancel.clone(),
            started: false,
        }
    }

    pub async fn next(&mut self) -> Tick {
        if !self.started {
            self.started = true;
            return Tick::Resync;
        }
        tokio::select! {
            _ = self.cancel.cancelled() => Tick::Stop,
            ev = self.rx.recv() => match ev {
                Ok(ev) => Tick::Event(ev),
                Err(broadcast::error::RecvError::Lagged(_)) => Tick::Resync,
                Err(broadcast::error::RecvError::Closed) => Tick::Stop,
            },
        }
    }
}
