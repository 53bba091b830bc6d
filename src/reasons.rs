//! Network failures in a few plain words. The libraries' texts ("client error
//! (Connect): tcp connect error: Connection refused (os error 111)") are right
//! but read like a stack trace; an operator wants "connection refused".

/// The short phrase for a failure to reach another host, when the text is one
/// of the usual ones (checked in order: the most specific first).
pub fn short(text: &str) -> Option<&'static str> {
    const PHRASES: &[(&[&str], &str)] = &[
        (&["connection refused"], "connection refused"),
        (
            &[
                "failed to lookup address",
                "dns error",
                "name or service not known",
                "no address associated",
                "nodename nor servname",
                "temporary failure in name resolution",
            ],
            "host name not found",
        ),
        (
            &["certificate", "unknownissuer", "notvalidforname"],
            "TLS certificate not accepted",
        ),
        (
            &["tls", "handshake", "corrupt message", "invalidcontenttype"],
            "TLS handshake failed",
        ),
        (&["no answer within"], "no answer in time"),
        (
            &["timed out", "deadline has elapsed", "timeout"],
            "no answer in time",
        ),
        (&["connection reset"], "connection reset"),
        (&["network is unreachable"], "network unreachable"),
        (&["no route to host"], "no route to host"),
        (&["broken pipe"], "connection closed"),
        (
            &[
                "connection closed before",
                "unexpected eof",
                "incompletemessage",
            ],
            "connection closed before an answer",
        ),
    ];
    let lower = text.to_ascii_lowercase();
    PHRASES
        .iter()
        .find(|(needles, _)| needles.iter().any(|needle| lower.contains(needle)))
        .map(|(_, phrase)| *phrase)
}

/// [`short`], or the text itself without its `(os error N)` tail.
pub fn plain(text: &str) -> String {
    match short(text) {
        Some(phrase) => phrase.to_owned(),
        None => strip_os_error(text).to_owned(),
    }
}

fn strip_os_error(text: &str) -> &str {
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_failures_read_as_a_few_words() {
        for (raw, phrase) in [
            (
                "client error (Connect): tcp connect error: Connection refused (os error 111)",
                "connection refused",
            ),
            (
                "client error (Connect): dns error: failed to lookup address information: \
                 Name or service not known",
                "host name not found",
            ),
            (
                "client error (Connect): received corrupt message of type InvalidContentType",
                "TLS handshake failed",
            ),
            (
                "client error (Connect): invalid peer certificate: UnknownIssuer",
                "TLS certificate not accepted",
            ),
            ("no answer within 10 s", "no answer in time"),
            (
                "Connection reset by peer (os error 104)",
                "connection reset",
            ),
        ] {
            assert_eq!(plain(raw), phrase, "{raw}");
        }
    }

    #[test]
    fn other_texts_keep_their_words_without_the_os_error_number() {
        assert_eq!(
            plain("answered 500 Internal Server Error"),
            "answered 500 Internal Server Error"
        );
        assert_eq!(
            plain("Permission denied (os error 13)"),
            "Permission denied"
        );
    }
}
