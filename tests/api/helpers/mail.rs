//! Reading what the portal mailed, from the stack's maildev (REST: `GET /api/email`).

use std::time::Duration;

use serde::Deserialize;

use super::Stack;

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub subject: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub html: String,
    #[serde(default)]
    pub to: Vec<Address>,
}

impl Mail {
    pub fn sent_to(&self, address: &str) -> bool {
        self.to
            .iter()
            .any(|a| a.address.eq_ignore_ascii_case(address))
    }
}

/// Every captured message whose subject contains `needle` (tests use their unique tenant name).
pub async fn find(needle: &str) -> Vec<Mail> {
    let url = format!("{}/api/email", Stack::get().var("MAILDEV_URL"));
    let all: Vec<Mail> = reqwest::get(&url)
        .await
        .expect("maildev answers")
        .json()
        .await
        .expect("maildev JSON");
    all.into_iter()
        .filter(|m| m.subject.contains(needle))
        .collect()
}

/// Waits until at least `count` messages match, then returns them all. Fails after a deadline.
pub async fn await_count(needle: &str, count: usize) -> Vec<Mail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mails = find(needle).await;
        if mails.len() >= count {
            return mails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} mails about {needle:?}, got {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A unique tenant name for one test.
pub fn unique_tenant(prefix: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &suffix[..8])
}
