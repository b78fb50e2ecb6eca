//! `tenantry check` against the stack: one line per backend.

use crate::helpers::Stack;
use crate::helpers::app::{create_database, test_config_text};
use crate::helpers::binary::{tenantry, write_config};

const BACKENDS: [&str; 7] = [
    "postgres",
    "directory",
    "idp",
    "smtp",
    "vault",
    "mysql",
    "kubernetes",
];

async fn run_check(text: &str) -> (Option<i32>, String) {
    let db = create_database().await;
    let (_dir, path) = write_config(text);
    let output = tenantry()
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env(
            "TENANTRY__DATABASE__URL",
            format!("{}/{db}", Stack::get().pg_url()),
        )
        .env("TENANTRY__VAULT__TOKEN", Stack::get().var("VAULT_TOKEN"))
        .output()
        .await
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn check_prints_one_ok_line_per_backend() {
    let (code, stdout) = run_check(&test_config_text("127.0.0.1:1".parse().unwrap())).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), BACKENDS.len(), "{stdout}");
    for (line, backend) in lines.iter().zip(BACKENDS) {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some(backend), "{stdout}");
        assert_eq!(words.next(), Some("ok"), "{stdout}");
    }
    assert_eq!(code, Some(0), "{stdout}");
}

#[tokio::test]
async fn check_names_the_directory_when_it_is_down_and_fails() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let text = test_config_text("127.0.0.1:1".parse().unwrap()).replace(
        Stack::get().var("LDAPS_URL"),
        &format!("ldaps://127.0.0.1:{port}"),
    );
    let (code, stdout) = run_check(&text).await;
    let directory = stdout
        .lines()
        .find(|l| l.starts_with("directory"))
        .expect("a directory line");
    assert!(directory.contains("FAILED"), "{stdout}");
    assert!(
        directory.contains(&format!("127.0.0.1:{port}")),
        "says where it tried: {directory}"
    );
    assert!(
        directory.contains("ldap.url"),
        "says what to check: {directory}"
    );
    assert_eq!(code, Some(1));
    let postgres = stdout.lines().find(|l| l.starts_with("postgres")).unwrap();
    assert!(
        postgres.contains(" ok "),
        "other backends still checked: {stdout}"
    );
}
