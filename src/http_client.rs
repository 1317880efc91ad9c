//! The one recipe for the broker's outbound HTTP clients (STS, OSS, the metadata service, the
//! JWKS URL, OSS's callback key, the app a callback is forwarded to, the health probe): never a
//! proxy from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` would see signed
//! requests and could change answers), never a redirect (a redirected POST would be repeated as
//! a GET, a redirected signed request sent elsewhere), a connect timeout, an overall timeout and
//! the broker's user agent. Every client is built once, at start-up.

use std::time::Duration;

/// The `User-Agent` of every outbound request.
pub const USER_AGENT: &str = concat!("sts-broker/", env!("CARGO_PKG_VERSION"));

/// A client of the recipe: `connect` bounds the connection, `total` each whole request (a
/// request may set a shorter one).
pub fn client(connect: Duration, total: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(total)
        .user_agent(USER_AGENT)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    /// A listener answering every request with `status` and a `Location`, counting requests.
    async fn answering(
        status: &'static str,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<String>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                let answer = format!(
                    "HTTP/1.1 {status}\r\nlocation: http://{addr}/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn no_redirect_is_followed_and_the_user_agent_is_the_brokers() {
        let (addr, mut seen) = answering("302 Found").await;
        let http = client(Duration::from_secs(2), Duration::from_secs(5)).unwrap();
        let response = http
            .get(format!("http://{addr}/here"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 302);
        let request = seen.recv().await.unwrap();
        assert!(request.starts_with("GET /here "), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&format!("user-agent: {USER_AGENT}")),
            "{request}"
        );
        assert!(seen.try_recv().is_err(), "the redirect was followed");
    }
}
