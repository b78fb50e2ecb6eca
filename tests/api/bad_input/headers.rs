//! Header limits, over a raw connection so the status line is seen exactly: one huge header,
//! many headers, a huge cookie, a huge URL. The portal sets no limits of its own; hyper's
//! defaults apply (about 400 KiB of head, at most 100 headers; the URI at most 64 KiB), and
//! what it answers is asserted here: a 4xx and a closed connection — never a 5xx or a hang.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::forms::Portal;
use crate::helpers::report::report;

const AREA: &str = "bad input";

/// Sends `head` (and no body) and returns the status code of the answer, or `None` when the
/// server closed the connection without one. A hang fails the test.
async fn status_of(addr: &str, head: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything: a write error is fine.
    let _ = stream.write_all(head).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    answer.extend_from_slice(&buf[..k]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server hung on a {}-byte head",
        head.len()
    );
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn oversized_heads_get_a_4xx_not_a_5xx_or_a_hang() {
    let portal = Portal::start("jjackson").await;
    let addr = portal.app.address.trim_start_matches("http://").to_owned();
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let ok = status_of(&addr, &get("/healthz", "")).await;
    assert_eq!(ok, Some(200));

    let mut seen = Vec::new();
    let cases: Vec<(&str, Vec<u8>, Vec<u16>)> = vec![
        // Within limits: served.
        (
            "a 16 KiB header",
            get("/healthz", &format!("X-Big: {}\r\n", "a".repeat(16 << 10))),
            vec![200],
        ),
        (
            "90 headers",
            get(
                "/healthz",
                &(0..90)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>(),
            ),
            vec![200],
        ),
        (
            "a 64 KiB cookie of junk",
            get(
                "/",
                &format!(
                    "Cookie: {}\r\n",
                    (0..4000)
                        .map(|i| format!("junk{i}=xxxxxxxxx"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            vec![200],
        ),
        (
            "a malformed cookie",
            get("/", "Cookie: ;;;==;tenantry_session=%%%;\u{7f}\r\n"),
            vec![200, 400],
        ),
        // Over hyper's limits: 431.
        (
            "a 1 MiB header",
            get("/healthz", &format!("X-Big: {}\r\n", "a".repeat(1 << 20))),
            vec![431],
        ),
        (
            "a 1 MiB cookie",
            get("/", &format!("Cookie: c={}\r\n", "c".repeat(1 << 20))),
            vec![431],
        ),
        (
            "200 headers",
            get(
                "/healthz",
                &(0..200)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>(),
            ),
            vec![431],
        ),
        // A URL over what `http` parses: 414.
        (
            "a 70 KiB URL",
            get(&format!("/requests?after={}", "9".repeat(70 << 10)), ""),
            vec![414],
        ),
        // Not HTTP at all: 400.
        (
            "a garbage request line",
            b"\x00\x01\x02 / HTTP/9\r\n\r\n".to_vec(),
            vec![400],
        ),
        (
            "a header without a colon",
            get("/healthz", "NoColonHere\r\n"),
            vec![400],
        ),
    ];
    for (what, head, allowed) in &cases {
        let status = status_of(&addr, head).await;
        let status =
            status.unwrap_or_else(|| panic!("{what}: the connection closed without an answer"));
        assert!(
            allowed.contains(&status),
            "{what} → {status}, expected one of {allowed:?}"
        );
        seen.push(format!("{what} → {status}"));
    }
    // The portal is still fine.
    assert_eq!(status_of(&addr, &get("/healthz", "")).await, Some(200));
    report(
        AREA,
        format!(
            "header limits (hyper defaults, none configured by the portal): {}",
            seen.join(", ")
        ),
    );
}
