//! The engine's metrics: step durations and outcomes, queue depth, oldest waiting job.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::app::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub kind: String,
    pub step: String,
    /// `succeeded`, `retrying`, `failed` or `interrupted`.
    pub outcome: String,
}

#[derive(Clone)]
pub struct ProvisionMetrics {
    pub step_duration: Family<StepLabels, Histogram>,
    pub step_attempts: Family<StepLabels, Counter>,
    pub queue_depth: Gauge,
    pub oldest_waiting: Gauge<f64, AtomicU64>,
    pub jobs_claimed: Counter,
}

impl ProvisionMetrics {
    /// Creates the metrics and adds them to the application's registry.
    pub fn register(registry: &Metrics) -> ProvisionMetrics {
        let metrics = ProvisionMetrics {
            step_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 16))
            }),
            step_attempts: Family::default(),
            queue_depth: Gauge::default(),
            oldest_waiting: Gauge::default(),
            jobs_claimed: Counter::default(),
        };
        registry.register(
            "provision_step_duration_seconds",
            "Duration of provisioning step attempts, by job kind, step and outcome",
            metrics.step_duration.clone(),
        );
        registry.register(
            "provision_step_attempts",
            "Provisioning step attempts, by job kind, step and outcome",
            metrics.step_attempts.clone(),
        );
        registry.register(
            "provision_queue_depth",
            "Provisioning jobs due and waiting for a worker",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "provision_oldest_waiting_seconds",
            "How long the oldest due provisioning job has waited for a worker",
            metrics.oldest_waiting.clone(),
        );
        registry.register(
            "provision_jobs_claimed",
            "Provisioning jobs claimed by this process's workers",
            metrics.jobs_claimed.clone(),
        );
        metrics
    }

    pub fn observe(&self, kind: &str, step: &str, outcome: &str, seconds: f64) {
        let labels = StepLabels {
            kind: kind.to_owned(),
            step: step.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.step_duration.get_or_create(&labels).observe(seconds);
        self.step_attempts.get_or_create(&labels).inc();
    }
}
