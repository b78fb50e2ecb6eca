//! LDAP injection: filter payloads typed into the group search and the group fields, and — what
//! `callback.rs` and `directory.rs` (usernames at sign-in) do not cover — directory data with
//! filter metacharacters that the portal puts into its own filters: a user's DN when it looks
//! up their groups, an approver group's name when it looks up whom to mail.

use std::collections::{BTreeSet, HashMap};

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::Value;

use super::payloads::LDAP;
use crate::helpers::TestApp;
use crate::helpers::app::AppOptions;
use crate::helpers::directory::unique;
use crate::helpers::directory::{Ad, GroupCn};
use crate::helpers::mail::unique_tenant;
use crate::helpers::report::report;
use crate::helpers::requests::form;

#[tokio::test]
async fn filter_payloads_in_the_group_search_and_group_fields_match_nothing() {
    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([("TENANTRY__PROVISIONING__WORKERS".into(), "0".into())]),
        ..Default::default()
    })
    .await;
    app.login("pplatt", "start123").await;
    let mut failures = Vec::new();

    // A literal search finds what starts with the text, and only that.
    let baseline: Value = app
        .get("/api/groups?prefix=tenant1")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = baseline["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(names.contains(&"tenant1-admins"), "{baseline}");
    assert!(
        names
            .iter()
            .all(|n| n.to_lowercase().starts_with("tenant1")),
        "{baseline}"
    );

    let (mut searches, mut submissions) = (0, 0);
    for payload in LDAP {
        searches += 1;
        let response = app
            .client
            .get(app.url("/api/groups"))
            .query(&[("prefix", payload)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        match status {
            StatusCode::BAD_REQUEST => {}
            StatusCode::OK => {
                let leaked: Vec<_> = body["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|g| g["name"].as_str())
                    .filter(|n| !n.to_lowercase().starts_with(&payload.to_lowercase()))
                    .map(str::to_owned)
                    .collect();
                if !leaked.is_empty() {
                    failures.push(format!("search {payload:?} found {leaked:?}"));
                }
            }
            other => failures.push(format!("search {payload:?}: {other}")),
        }
        for field in ["admin_group", "viewer_group"] {
            submissions += 1;
            let mut fields = form(&unique_tenant("ldapi"), "tenant1-admins");
            fields.iter_mut().find(|(k, _)| *k == field).unwrap().1 = (*payload).to_owned();
            let response = app.submit_request(&app.client, &fields).await;
            if response.status() != StatusCode::UNPROCESSABLE_ENTITY {
                failures.push(format!("{field} {payload:?}: {}", response.status()));
                continue;
            }
            let body = response.text().await.unwrap();
            if !body.contains(&format!("id=\"{field}-error\"")) {
                failures.push(format!("{field} {payload:?}: no error next to the field"));
            }
        }
    }
    assert_eq!(app.count_requests().await, 0, "nothing stored");
    report(
        "security",
        format!(
            "ldap: {} filter payloads × (group search + admin group + viewer group) = {} tries, 0 matched beyond the literal, {} problems",
            LDAP.len(),
            searches + submissions,
            failures.len()
        ),
    );
    assert!(failures.is_empty(), "{failures:#?}");
    app.stop().await;
}

/// The groups the home page lists for `client`.
async fn listed_groups(app: &TestApp, client: &reqwest::Client) -> BTreeSet<String> {
    let body = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = Html::parse_document(&body);
    page.select(&Selector::parse("[data-group]").unwrap())
        .filter_map(|e| e.value().attr("data-group").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn directory_names_with_filter_metacharacters_stay_literal_in_the_portals_own_filters() {
    let ad = Ad::connect().await;
    // The approver group's name ends in `*`: unescaped in `(cn=…)` it would be a wildcard
    // matching the decoy group too, whose member would then be mailed as an approver.
    let approvers_sam = unique("ldapappr");
    let approvers_cn = format!("{approvers_sam}*");
    let approvers = ad
        .create_group_with("ldapappr", GroupCn::Exact(&approvers_cn))
        .await;
    let decoy_cn = format!("{approvers_sam}-decoy");
    let decoy = ad
        .create_group_with("ldapdecoy", GroupCn::Exact(&decoy_cn))
        .await;
    let approver = ad
        .create_user_with("ldapok", "", Some("Real Approver"))
        .await;
    let intruder = ad
        .create_user_with("ldapno", "", Some("Decoy Member"))
        .await;
    ad.add_member(&approvers.dn, &approver.dn).await;
    ad.add_member(&decoy.dn, &intruder.dn).await;
    // A requester whose DN would close the membership filter and match every group.
    let team = ad.create_group_with("ldapteam", GroupCn::Prefix("")).await;
    let requester = ad
        .create_user_with("ldapreq", "*)(|(cn=*)(member=*) ", Some("Requester"))
        .await;
    ad.add_member(&team.dn, &requester.dn).await;

    let app = TestApp::spawn_with(AppOptions {
        env: HashMap::from([
            ("TENANTRY__PROVISIONING__WORKERS".into(), "0".into()),
            (
                "TENANTRY__ROLES__APPROVER_GROUPS".into(),
                format!(r#"["{approvers_cn}"]"#),
            ),
        ]),
        ..Default::default()
    })
    .await;
    let client = app
        .signed_in_client(&requester.username, &requester.password)
        .await;
    assert_eq!(
        listed_groups(&app, &client).await,
        BTreeSet::from([team.cn.clone()]),
        "the requester's groups, exactly"
    );
    app.create_request(&client, &unique_tenant("ldap2"), &team.cn)
        .await;
    let mailed: BTreeSet<String> =
        sqlx::query_scalar("SELECT recipient FROM mail_outbox WHERE kind = 'new_request'")
            .fetch_all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        mailed,
        BTreeSet::from([approver.email.clone()]),
        "only the approver group's member is mailed"
    );
    report(
        "security",
        "ldap: a DN with `*)(|(cn=*)(member=*)` resolves to its one group; an approver group named `…*` mails its member, not the decoy group's",
    );
    app.stop().await;
    for dn in [
        &requester.dn,
        &approver.dn,
        &intruder.dn,
        &team.dn,
        &approvers.dn,
        &decoy.dn,
    ] {
        ad.delete(dn).await;
    }
}
