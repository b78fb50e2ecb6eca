//! The page checks themselves can fail: each kind of fault, planted in a real page, is found.

use serde_json::json;

use crate::helpers::TestApp;
use crate::helpers::browser::Browser;

#[tokio::test]
async fn the_page_checks_find_axe_violations_console_errors_csp_violations_inline_code_and_overflow()
 {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;
    browser.goto("/").await;
    // A clean page first, so what follows is caused by the planted faults alone.
    assert_eq!(
        browser.page_problems("checks-clean").await,
        Vec::<String>::new()
    );

    browser
        .execute(
            r#"const main = document.querySelector('main');
            const img = document.createElement('img');            // no alt: axe "image-alt", critical
            img.src = '/static/app.css';
            main.append(img);
            const wide = document.createElement('div');           // 2000 px in a 360 px screen
            wide.id = 'too-wide';
            wide.textContent = 'a row of something wide';        // empty boxes do not scroll
            wide.style.width = '2000px';                          // CSSOM: allowed, but leaves a style attribute
            main.append(wide);
            const styled = document.createElement('p');           // markup style: the CSP refuses it
            styled.setAttribute('style', 'color: red');
            main.append(styled);
            const inline = document.createElement('script');      // the CSP must refuse it
            inline.textContent = 'window.ranInline = true';
            document.body.append(inline);
            console.error('planted console error');
            return true;"#,
            vec![],
        )
        .await;
    let problems = browser.page_problems("checks-faulty").await;
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(has("axe critical `image-alt`"), "{problems:#?}");
    assert!(
        has("[360 px] the page is wider than the screen") && has("div#too-wide"),
        "{problems:#?}"
    );
    assert!(has("inline style=\"width: 2000px"), "{problems:#?}");
    assert!(
        has("Applying inline style violates the following Content Security Policy"),
        "{problems:#?}"
    );
    assert!(
        has("Executing inline script violates the following Content Security Policy"),
        "{problems:#?}"
    );
    assert!(has("inline <script>: window.ranInline"), "{problems:#?}");
    assert!(has("planted console error"), "{problems:#?}");
    assert_eq!(
        browser
            .execute("return window.ranInline === true", vec![])
            .await,
        json!(false),
        "the CSP let an inline script run"
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_focus_check_finds_a_control_whose_keyboard_focus_is_invisible() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await;
    browser.goto("/").await;
    browser
        .execute(
            r#"const b = document.createElement('button');
            b.textContent = 'no focus ring';
            b.className = 'planted';
            document.querySelector('main').prepend(b);
            // A stylesheet rule (not an inline style) taking the outline away, as a careless
            // stylesheet would.
            document.styleSheets[0].insertRule('button.planted:focus-visible { outline: none !important; box-shadow: none !important; }');
            return true;"#,
            vec![],
        )
        .await;
    let problems = browser.page_problems("checks-focus").await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("keyboard focus on button") && p.contains("no focus ring")),
        "{problems:#?}"
    );
    browser.close().await;
    app.stop().await;
}
