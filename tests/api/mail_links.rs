//! Every link in every mail opens the page it names, for the person the mail was sent to.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;
use tenantry::domain::RequestStatus;

use crate::helpers::TestApp;
use crate::helpers::directory::Ad;
use crate::helpers::kube_sim::KubeSim;
use crate::helpers::mail::{Mail, await_count};
use crate::helpers::provision::{cleanup_shared, spawn_app, unique_name, wait_for_status};

/// The links of a mail: every `href` of its HTML part, each of which its text part shows too.
fn links(mail: &Mail) -> Vec<String> {
    let html = scraper::Html::parse_document(&mail.html);
    let anchors = scraper::Selector::parse("a[href]").unwrap();
    let hrefs: Vec<String> = html
        .select(&anchors)
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    let in_text: Vec<String> = mail
        .text
        .split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ')']).to_owned())
        .collect();
    // The text part may name more addresses than it links (a vCluster's API server).
    for href in &hrefs {
        assert!(
            in_text.contains(href),
            "{}: {href} is linked in HTML but not shown in the text part: {in_text:?}",
            mail.subject
        );
    }
    hrefs
}

/// The one mail about `tenant` whose subject contains `subject` sent to `address`.
async fn mail_to(tenant: &str, subject: &str, address: &str) -> Mail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found: Vec<Mail> = await_count(tenant, 1)
            .await
            .into_iter()
            .filter(|m| m.subject.contains(subject) && m.sent_to(address))
            .collect();
        match found.len() {
            0 => {}
            1 => return found.into_iter().next().unwrap(),
            n => panic!("{n} mails “{subject}” about {tenant} to {address}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mail “{subject}” about {tenant} to {address}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens every link of `mail` as `reader` and checks each is a page of this portal that
/// answers 200 and shows `tenant`. Returns the paths, for the caller's own checks.
async fn opens_every_link(
    app: &TestApp,
    mail: &Mail,
    reader: &Client,
    tenant: &str,
) -> Vec<String> {
    let links = links(mail);
    assert!(!links.is_empty(), "{}: no link", mail.subject);
    let mut paths = Vec::new();
    for link in links {
        assert!(
            link.starts_with(&app.address),
            "{}: {link} is not on the portal at {}",
            mail.subject,
            app.address
        );
        let response = reader.get(&link).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}: {link} for its recipient",
            mail.subject
        );
        let page = response.text().await.unwrap();
        assert!(
            page.contains(tenant),
            "{}: {link} does not show {tenant}",
            mail.subject
        );
        paths.push(link[app.address.len()..].to_owned());
    }
    paths
}

#[tokio::test]
async fn every_link_in_every_mail_opens_its_page_for_the_person_it_was_sent_to() {
    let sim = KubeSim::start(200).await;
    let app = spawn_app(&sim, &[]).await;
    let ad = Ad::connect().await;
    let admin = ad.create_user("mladm").await;
    let admins = ad.create_group("mlgrp").await;
    ad.add_member(&admins.dn, &admin.dn).await;
    let requester = app.signed_in_client("pplatt", "start123").await;
    let approver = app.signed_in_client("mmosley", "start123").await;
    let tenant_admin = app.signed_in_client(&admin.username, &admin.password).await;

    // Asked for, approved, built.
    let ready = unique_name("links");
    let id = app.create_request(&requester, &ready, &admins.cn).await;
    let asked = mail_to(&ready, "needs a decision", "mmosley@corp.example.com").await;
    let paths = opens_every_link(&app, &asked, &approver, &ready).await;
    assert_eq!(paths, [format!("/approvals/{id}")]);
    let decided = app
        .decide(&approver, id, "approve", "Fine by the platform team")
        .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    let approved = mail_to(&ready, "approved", "pplatt@corp.example.com").await;
    opens_every_link(&app, &approved, &requester, &ready).await;
    wait_for_status(&app.db, id, RequestStatus::Ready, Duration::from_secs(120)).await;
    let to_admin = mail_to(&ready, "is ready", &admin.email).await;
    let paths = opens_every_link(&app, &to_admin, &tenant_admin, &ready).await;
    assert_eq!(
        paths,
        [
            format!("/tenants/{ready}/access"),
            format!("/requests/{id}")
        ]
    );
    // The requester is no admin or viewer of the tenant: the mail does not send them to a page
    // that would refuse them, and says why.
    let to_requester = mail_to(&ready, "is ready", "pplatt@corp.example.com").await;
    let paths = opens_every_link(&app, &to_requester, &requester, &ready).await;
    assert_eq!(paths, [format!("/requests/{id}")]);
    assert!(
        to_requester.text.contains("not a member of"),
        "{}",
        to_requester.text
    );

    // Rejected.
    let rejected = unique_name("linkrej");
    let id = app.create_request(&requester, &rejected, &admins.cn).await;
    let decided = app
        .decide(&approver, id, "reject", "Use the shared tenant")
        .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    let mail = mail_to(&rejected, "rejected", "pplatt@corp.example.com").await;
    opens_every_link(&app, &mail, &requester, &rejected).await;

    // Failed: its namespace exists already, not made by Tenantry. The requester and the portal
    // admins are told.
    let failed = unique_name("linkfail");
    let id = app.create_request(&requester, &failed, &admins.cn).await;
    sim.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": failed}}))
        .await;
    let decided = app
        .decide(&approver, id, "approve", "Fine by the platform team")
        .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    wait_for_status(&app.db, id, RequestStatus::Failed, Duration::from_secs(120)).await;
    for (address, reader) in [
        ("pplatt@corp.example.com", &requester),
        ("mmosley@corp.example.com", &approver),
    ] {
        let mail = mail_to(&failed, "failed", address).await;
        let paths = opens_every_link(&app, &mail, reader, &failed).await;
        assert_eq!(paths, [format!("/requests/{id}")]);
    }

    ad.delete(&admin.dn).await;
    ad.delete(&admins.dn).await;
    app.stop().await;
    cleanup_shared(&ready).await;
}
