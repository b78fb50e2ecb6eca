//! The stack's MariaDB accepts a client certificate the simulated cert-manager issued from
//! the stack CA, for a user created `REQUIRE SUBJECT '/CN=x'`. Needs the local stack
//! (MariaDB on 127.0.0.1:3307 with TLS); fails, not skips, without it.

use std::process::Command;

use crate::harness::{Sim, b64, stderr, temp_dir};

const STACK: &str = "/var/lib/tenantry-stack";

fn mariadb(args: &[&str]) -> std::process::Output {
    Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            "3307",
            "--protocol=TCP",
            "--connect-timeout=10",
        ])
        .args(args)
        .output()
        .expect("the mariadb client must be installed")
}

#[tokio::test]
async fn stack_mariadb_accepts_the_issued_certificate() {
    let ca_crt = std::fs::read_to_string(format!("{STACK}/ca/ca.crt")).unwrap_or_else(|e| {
        panic!("the local stack's CA is required ({STACK}/ca/ca.crt: {e}); start the stack first")
    });
    let ca_key = std::fs::read_to_string(format!("{STACK}/ca/ca.key"))
        .unwrap_or_else(|e| panic!("{STACK}/ca/ca.key: {e}"));
    let password = std::fs::read_to_string(format!("{STACK}/secrets/mysql-admin-password"))
        .unwrap_or_else(|e| panic!("the stack's MariaDB admin password is required: {e}"));
    let password = password.trim();
    let ca_path = format!("{STACK}/ca/ca.crt");
    let admin = |sql: &str| {
        let out = mariadb(&[
            "-u",
            "tenantry_admin",
            &format!("-p{password}"),
            &format!("--ssl-ca={ca_path}"),
            "-e",
            sql,
        ]);
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
    };
    let probe = mariadb(&[
        "-u",
        "tenantry_admin",
        &format!("-p{password}"),
        &format!("--ssl-ca={ca_path}"),
        "-e",
        "SELECT 1",
    ]);
    assert!(
        probe.status.success(),
        "the stack's MariaDB (127.0.0.1:3307) must be running: {}",
        stderr(&probe)
    );

    let sim = Sim::start();
    let out = sim.kubectl_stdin(
        &["apply", "-f", "-"],
        &crate::controllers::ca_issuer_manifest(&ca_crt, &ca_key),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    sim.ok(&["create", "ns", "db"]);
    let user = format!("ksim_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for (name, cn) in [("right", user.as_str()), ("wrong", "someone-else")] {
        let cert = format!(
            "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {{name: {name}, namespace: db}}\nspec:\n  secretName: {name}-tls\n  commonName: {cn}\n  usages: [client auth, digital signature, key encipherment]\n  issuerRef: {{name: test-ca, kind: ClusterIssuer}}\n"
        );
        let out = sim.kubectl_stdin(&["apply", "-f", "-"], &cert);
        assert!(out.status.success(), "{}", stderr(&out));
        sim.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("certificate/{name}"),
            "-n",
            "db",
            "--timeout=30s",
        ]);
    }
    let dir = temp_dir("mariadb");
    let write = |name: &str| {
        let s = sim.json(&["get", "secret", &format!("{name}-tls"), "-n", "db"]);
        for k in ["tls.crt", "tls.key", "ca.crt"] {
            std::fs::write(
                dir.join(format!("{name}-{k}")),
                b64(s["data"][k].as_str().unwrap()),
            )
            .unwrap();
        }
    };
    write("right");
    write("wrong");

    admin(&format!(
        "CREATE USER '{user}'@'%' REQUIRE SUBJECT '/CN={user}'"
    ));
    let connect = |name: &str| {
        mariadb(&[
            "-u",
            &user,
            &format!("--ssl-ca={}", dir.join(format!("{name}-ca.crt")).display()),
            &format!(
                "--ssl-cert={}",
                dir.join(format!("{name}-tls.crt")).display()
            ),
            &format!(
                "--ssl-key={}",
                dir.join(format!("{name}-tls.key")).display()
            ),
            "-N",
            "-e",
            "SELECT CURRENT_USER()",
        ])
    };
    let good = connect("right");
    let bad = connect("wrong");
    admin(&format!("DROP USER '{user}'@'%'"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        good.status.success(),
        "the issued certificate was refused: {}",
        stderr(&good)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains(&user));
    assert!(
        !bad.status.success(),
        "a certificate for another CN must be refused"
    );
}
