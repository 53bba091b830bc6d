//! One HTTP attempt at a delivery: `POST` the signed body and judge the answer.
//!
//! A plain hyper client over rustls rather than reqwest: reqwest's rustls
//! feature needs a process-wide crypto provider (or pulls in aws-lc), which
//! every other reqwest client in the process — the health check, the tests —
//! would then depend on. Here the ring provider is given to this one client.
//! The client follows no redirects (a 3xx is a failed attempt), resolves names
//! through the SSRF guard, ignores proxy variables, gives an attempt 10 s in
//! all, and reads at most 4 KiB of an answer.

use std::{error::Error as StdError, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Request, StatusCode, Uri,
    header::{CONTENT_TYPE, HeaderValue, USER_AGENT},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio::time::Instant;

use super::address_guard::{self, GuardedResolver};

/// A 2xx within this long is success.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// At most this much of an answer is read.
pub const ANSWER_LIMIT: usize = 4 * 1024;

/// How much of an answer a failure's error quotes.
const QUOTED: usize = 200;

/// The `user-agent` of every delivery.
pub const USER_AGENT_VALUE: &str = "useradmin-webhooks";

/// What is sent in one attempt.
#[derive(Debug, Clone)]
pub struct Message {
    /// `webhook-id`: the same on every attempt.
    pub id: String,
    /// `webhook-timestamp`: this attempt's, in Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: String,
    pub body: Bytes,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// No answer (`status` is `None`), or one that is not a 2xx.
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// An attempt's outcome and how long it took.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    pub duration: Duration,
}

/// The delivery client, shared by every attempt of an instance (it keeps
/// connections to receivers open between deliveries).
#[derive(Clone)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    allow_private: bool,
}

impl Sender {
    pub fn new(allow_private: bool) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
        http.enforce_http(false);
        http.set_connect_timeout(Some(TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(https);
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Sends one attempt. Never fails: whatever went wrong is in the outcome.
    pub async fn post(&self, url: &str, message: &Message) -> Attempt {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(TIMEOUT, self.exchange(url, message)).await {
            Ok(Ok((status, answer))) => judge(status, &answer),
            Ok(Err(error)) => Outcome::Failed {
                status: None,
                error,
            },
            Err(_) => Outcome::Failed {
                status: None,
                error: format!("no answer within {} s", TIMEOUT.as_secs()),
            },
        };
        Attempt {
            outcome,
            duration: started.elapsed(),
        }
    }

    /// The request and the first [`ANSWER_LIMIT`] bytes of its answer.
    async fn exchange(
        &self,
        url: &str,
        message: &Message,
    ) -> Result<(StatusCode, Vec<u8>), String> {
        let parsed = address_guard::parse(url).map_err(|e| e.to_string())?;
        if !self.allow_private {
            address_guard::check_literal(&parsed).map_err(|e| e.to_string())?;
        }
        let uri: Uri = parsed
            .as_str()
            .parse()
            .map_err(|e| format!("this is not a valid URL ({e})"))?;
        let request = Request::post(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", message.timestamp)
            .header("webhook-signature", &message.signature)
            .body(Full::new(message.body.clone()))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut answer = Vec::new();
        // An answer that breaks off is still an answer: its status decides.
        while answer.len() < ANSWER_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = ANSWER_LIMIT - answer.len();
                        answer.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        Ok((status, answer))
    }
}

fn judge(status: StatusCode, answer: &[u8]) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered {
            status: status.as_u16(),
        };
    }
    let mut error = format!("answered {status}");
    if status.is_redirection() {
        error.push_str("; redirects are not followed");
    }
    let quoted = quote(answer);
    if !quoted.is_empty() {
        error.push_str(": ");
        error.push_str(&quoted);
    }
    Outcome::Failed {
        status: Some(status.as_u16()),
        error,
    }
}

/// The start of an answer on one line, for the delivery log.
fn quote(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let mut quoted: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if quoted.chars().count() > QUOTED {
        quoted = quoted.chars().take(QUOTED).collect::<String>() + "…";
    }
    quoted
}

/// An error and its causes on one line ("client error (Connect): dns error: …").
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_2xx_is_delivered() {
        assert_eq!(
            judge(StatusCode::NO_CONTENT, b""),
            Outcome::Delivered { status: 204 }
        );
        assert_eq!(
            judge(StatusCode::FOUND, b""),
            Outcome::Failed {
                status: Some(302),
                error: "answered 302 Found; redirects are not followed".into()
            }
        );
        let Outcome::Failed { status, error } =
            judge(StatusCode::INTERNAL_SERVER_ERROR, b"  boom\n\n at line 3 ")
        else {
            panic!("a 500 is a failure");
        };
        assert_eq!(status, Some(500));
        assert_eq!(error, "answered 500 Internal Server Error: boom at line 3");
    }

    #[test]
    fn a_long_answer_is_quoted_briefly() {
        let quoted = quote("x".repeat(5000).as_bytes());
        assert_eq!(quoted.chars().count(), QUOTED + 1);
    }

    fn message() -> Message {
        Message {
            id: "msg_1".into(),
            timestamp: 1,
            signature: "v1,x".into(),
            body: Bytes::from_static(b"{}"),
        }
    }

    #[tokio::test]
    async fn https_speaks_tls() {
        // A plain-HTTP server behind an https:// URL: the attempt fails in the
        // TLS handshake, which shows https is wired (and needs no process-wide
        // crypto provider).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                // Reads the request (headers and the `{}` body) before answering.
                let mut request = Vec::new();
                let mut chunk = [0; 1024];
                while request.starts_with(&b"POST"[..request.len().min(4)])
                    && !request.ends_with(b"\r\n\r\n{}")
                {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let sender = Sender::new(true).unwrap();
        let attempt = sender
            .post(&format!("https://127.0.0.1:{port}/hook"), &message())
            .await;
        let Outcome::Failed {
            status: None,
            error,
        } = attempt.outcome
        else {
            panic!("not TLS: {:?}", attempt.outcome);
        };
        assert!(error.contains("Connect"), "{error}");
        let plain = sender
            .post(&format!("http://127.0.0.1:{port}/hook"), &message())
            .await;
        assert_eq!(plain.outcome, Outcome::Delivered { status: 200 });
    }

    #[tokio::test]
    async fn a_forbidden_literal_address_is_not_contacted() {
        let sender = Sender::new(false).unwrap();
        let message = message();
        let attempt = sender.post("http://169.254.169.254/latest", &message).await;
        let Outcome::Failed {
            status: None,
            error,
        } = attempt.outcome
        else {
            panic!("refused: {:?}", attempt.outcome);
        };
        assert!(error.contains("metadata"), "{error}");
        let attempt = sender.post("http://localhost:9/hook", &message).await;
        let Outcome::Failed {
            status: None,
            error,
        } = attempt.outcome
        else {
            panic!("refused: {:?}", attempt.outcome);
        };
        assert!(error.contains("loopback"), "{error}");
    }
}
