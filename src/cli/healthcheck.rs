//! `useradmin healthcheck`: what the container healthcheck runs, so the image
//! needs no curl.

use std::{process::ExitCode, time::Duration};

use crate::config;

pub async fn run(url: Option<String>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match config::port_from_env() {
            Ok(port) => format!("http://127.0.0.1:{port}/health"),
            Err(e) => {
                eprintln!("useradmin: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("useradmin: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(&url).send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            println!("{status} {body}");
            if status.as_u16() == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("useradmin: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}
