//! Connection bounds (issue 12 item 2): a client that never finishes its request head, an idle
//! keep-alive connection and connections beyond the cap are closed, and the server stays
//! responsive. Waits are bounded (a test fails instead of hanging), never timing assertions.

use std::time::Duration;

use ratchet_server::config::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// How long a test waits for the server to do what it must before failing.
const BOUND: Duration = Duration::from_secs(20);
const LONG: Duration = Duration::from_secs(3600);

async fn spawn(limits: ConnectionLimits) -> TestApp {
    TestApp::spawn_with(|c| c.connections = limits).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset); returns what was read. Fails the
/// test if the connection is still open after [`BOUND`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the connection within {BOUND:?}");
    got
}

async fn healthz(app: &TestApp) -> Result<u16, reqwest::Error> {
    Ok(reqwest::Client::new().get(app.url("/healthz")).timeout(BOUND).send().await?.status().as_u16())
}

#[tokio::test]
async fn slow_header_connection_is_closed_within_timeout() {
    let app = spawn(ConnectionLimits { header_read_timeout: Duration::from_secs(1), idle_timeout: LONG, ..Default::default() }).await;
    // Half a request line, then silence (slowloris).
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HT").await.unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "no request was served: {answer:?}");
    // A connection that sends nothing at all is closed too.
    let mut silent = connect(&app).await;
    read_until_closed(&mut silent).await;
    assert_eq!(healthz(&app).await.unwrap(), 200, "complete requests are still served");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let app = spawn(ConnectionLimits { header_read_timeout: LONG, idle_timeout: Duration::from_secs(1), ..Default::default() }).await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: ratchet\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut conn).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "the request was answered first: {answer}");
    assert!(!answer.to_ascii_lowercase().contains("connection: close"), "a keep-alive response, closed later for idleness: {answer}");
}

#[tokio::test]
async fn connection_cap_refuses_the_excess_and_stays_responsive() {
    let app = spawn(ConnectionLimits { max_connections: 2, header_read_timeout: LONG, idle_timeout: LONG }).await;
    let mut held = vec![connect(&app).await, connect(&app).await];
    // Make sure both are being served (a request on each, kept alive) before the next arrives.
    for c in &mut held {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: ratchet\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(BOUND, c.read(&mut buf)).await.expect("answered").unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
    }
    for _ in 0..5 {
        let mut excess = connect(&app).await;
        let _ = excess.write_all(b"GET /healthz HTTP/1.1\r\nHost: ratchet\r\n\r\n").await;
        let answer = read_until_closed(&mut excess).await;
        assert!(answer.is_empty(), "a connection beyond the cap is closed unanswered: {:?}", String::from_utf8_lossy(&answer));
    }
    // Closing a held connection frees its place: the server answers again.
    drop(held.pop());
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(s) = healthz(&app).await {
            answered = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, Some(200), "the server is responsive once below the cap");
}
