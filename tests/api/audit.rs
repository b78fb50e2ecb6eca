//! The audit trail: written with each action, shown to portal admins, never changed.

use reqwest::StatusCode;

use crate::helpers::mail::unique_tenant;
use crate::requests::app_with;

#[tokio::test]
async fn portal_admins_see_and_filter_the_audit_log() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    let tenant = unique_tenant("audited");
    app.create_request(&app.client, &tenant, "tenant1-admins")
        .await;
    assert_eq!(
        app.get("/admin/audit").await.status(),
        StatusCode::FORBIDDEN,
        "not for plain users"
    );

    let mmosley = app.signed_in_client("mmosley", "start123").await;
    let all = mmosley.get(app.url("/admin/audit")).send().await.unwrap();
    assert_eq!(all.status(), StatusCode::OK);
    let body = all.text().await.unwrap();
    assert!(body.contains(&tenant) && body.contains("request_created"));
    let filtered = mmosley
        .get(app.url("/admin/audit?action=request_approved"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !filtered.contains(&tenant),
        "the filter hides other actions"
    );
    let by_actor = mmosley
        .get(app.url("/admin/audit?actor=pplatt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(by_actor.contains(&tenant));
    let bad = mmosley
        .get(app.url("/admin/audit?action=drop_tables"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn audit_rows_cannot_be_updated_deleted_or_truncated() {
    let app = app_with(&[]).await;
    app.login("pplatt", "start123").await;
    app.create_request(&app.client, &unique_tenant("immutable"), "tenant1-admins")
        .await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(before >= 1);
    for statement in [
        "UPDATE audit_events SET actor = 'someone-else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = sqlx::query(statement)
            .execute(&app.db)
            .await
            .expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE actor = 'pplatt'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(after, before);
}
