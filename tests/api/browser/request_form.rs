//! The new-request form in the browser: errors beside their fields, input kept, suggestions
//! from AD while typing, and the notice once the request is sent.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::browser::Browser;
use crate::helpers::provision::unique_name;

const SUBMIT: &str = "form.form button[type=submit]";

/// For one input: its field's error message, whether the error sits between the field's label
/// and the input (and close above the input), whether assistive technology is pointed at it,
/// and the input's current value.
async fn field_state(browser: &Browser, id: &str) -> Value {
    browser
        .execute(
            r#"const input = document.getElementById(arguments[0]);
            const field = input.closest('.field');
            const error = field.querySelector('.field-error');
            if (!error) return { error: null, value: input.value };
            const gap = input.getBoundingClientRect().top - error.getBoundingClientRect().bottom;
            const label = field.querySelector('label');
            const order = label.compareDocumentPosition(error) & Node.DOCUMENT_POSITION_FOLLOWING
                && error.compareDocumentPosition(input) & Node.DOCUMENT_POSITION_FOLLOWING;
            return {
              error: error.innerText.trim(),
              between_label_and_input: !!order,
              close_above_input: gap >= 0 && gap < 48,
              described: (input.getAttribute('aria-describedby') || '').split(/\s+/).includes(error.id),
              invalid: input.getAttribute('aria-invalid') === 'true',
              value: input.value,
            };"#,
            vec![json!(id)],
        )
        .await
}

async fn assert_error_beside(browser: &Browser, id: &str, message_part: &str, typed: &str) {
    let state = field_state(browser, id).await;
    let error = state["error"]
        .as_str()
        .unwrap_or_else(|| panic!("`{id}` shows no error next to it; the field is {state}"));
    assert!(
        error.contains(message_part),
        "`{id}`: error “{error}” does not say “{message_part}”"
    );
    for check in [
        "between_label_and_input",
        "close_above_input",
        "described",
        "invalid",
    ] {
        assert_eq!(state[check], json!(true), "`{id}` fails `{check}`: {state}");
    }
    assert_eq!(state["value"], json!(typed), "`{id}` lost what was typed");
}

#[tokio::test]
async fn the_request_form_shows_each_error_beside_its_field_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;
    browser.sign_in("pplatt", "/requests/new").await;
    browser.check_page("request-new").await;

    // Round 1: what the portal can tell without asking anyone.
    browser.fill("#tenant_name", "Ledger_Team!").await;
    browser.fill("#description", "x").await;
    browser.fill("#admin_group", "").await;
    browser.fill("#viewer_group", "ledger;viewers").await;
    browser.click("#template-ha").await;
    browser.fill("#justification", "soon").await;
    browser.click_and_wait(SUBMIT).await;
    assert_eq!(browser.path().await, "/requests");
    assert!(
        browser
            .text("[role=alert]")
            .await
            .contains("problems below")
    );
    assert_error_beside(&browser, "tenant_name", "lowercase", "Ledger_Team!").await;
    assert_error_beside(&browser, "description", "description", "x").await;
    assert_error_beside(&browser, "admin_group", "AD group", "").await;
    assert_error_beside(
        &browser,
        "viewer_group",
        "letters, digits",
        "ledger;viewers",
    )
    .await;
    assert_error_beside(&browser, "justification", "justification", "soon").await;
    assert_eq!(
        browser
            .find("#template-ha")
            .await
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("true"),
        "the chosen template was not kept"
    );
    browser.check_error_page("request-new-errors", 422).await;

    // Round 2: well formed, but the directory knows no such group. Suggestions come while
    // typing, from AD, through the page's own script under the CSP.
    let tenant = unique_name("ledger");
    let description = "Services of the ledger team";
    let justification = "The ledger team moves its services off the shared namespace.";
    browser.fill("#tenant_name", &tenant).await;
    browser.fill("#description", description).await;
    browser.fill("#viewer_group", "").await;
    browser.fill("#justification", justification).await;
    browser.fill("#admin_group", "tenant1").await;
    browser
        .wait_js(
            "AD groups suggested for “tenant1”",
            "const o = [...document.querySelectorAll('#group-suggestions option')].map(o => o.value);
             return o.includes('tenant1-admins') && o.includes('tenant1-viewers');",
        )
        .await;
    browser.fill("#admin_group", "ledger-admins-nowhere").await;
    browser.click_and_wait(SUBMIT).await;
    assert_error_beside(
        &browser,
        "admin_group",
        "no AD group named",
        "ledger-admins-nowhere",
    )
    .await;
    for (id, typed) in [
        ("tenant_name", tenant.as_str()),
        ("description", description),
        ("justification", justification),
    ] {
        let state = field_state(&browser, id).await;
        assert_eq!(state["error"], Value::Null, "`{id}` has an error: {state}");
        assert_eq!(state["value"], json!(typed), "`{id}` lost what was typed");
    }
    browser
        .check_error_page("request-new-unknown-group", 422)
        .await;

    // Round 3: sent; the request page says so.
    browser.fill("#admin_group", "tenant1-admins").await;
    browser.click_and_wait(SUBMIT).await;
    let path = browser.path().await;
    assert!(
        path.starts_with("/requests/") && path.ends_with("?submitted=1"),
        "{path}"
    );
    assert!(
        browser
            .text("[role=status]")
            .await
            .contains("Your request was sent")
    );
    assert!(browser.text("main h1").await.contains(&tenant));
    browser.check_page("request-detail-submitted").await;
    browser.close().await;
    app.stop().await;
}
