//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30-second
//! steps, one step of drift either side), over the `totp-rs` crate, and the
//! enrolment's QR code, drawn on the server as SVG (`qrcode`), so the page needs
//! no script and stays inside the content security policy.
//!
//! Accepting each code once is not this module's job: the caller stores the
//! last accepted step (see `write::sql::two_factor::accept_step`).

use base64::Engine;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// The issuer an authenticator app shows beside the account.
pub const ISSUER: &str = "useradmin";
/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
const DIGITS: u8 = 6;
/// Steps either side of now whose codes are accepted.
const SKEW: u16 = 1;
/// Bytes of a new secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    rand::random::<[u8; SECRET_BYTES]>().to_vec()
}

/// Unix seconds now.
pub fn now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, totp_rs::TotpError> {
    // The otpauth label is `issuer:account`; a colon in the account would split it.
    let account = account.replace(':', "_");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::from(secret.to_vec()))
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
}

/// The time step whose code `code` is, within one step either side of `now`;
/// `None` for a wrong code (or one that is not six digits).
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    totp(secret, "account").ok()?.check(code, now)
}

/// The code of the step `now` falls in (for tests and the CLI's checks).
pub fn code_at(secret: &[u8], now: u64) -> Option<String> {
    Some(totp(secret, "account").ok()?.generate(now).to_string())
}

/// What the enrolment page shows: the secret as text, the `otpauth://` URI and
/// that URI as a QR code (an SVG image as a `data:` URI, which `img-src 'self'
/// data:` allows).
pub struct Enrolment {
    /// Base32, in groups of four for reading aloud or typing.
    pub secret_text: String,
    pub uri: String,
    pub qr_data_uri: String,
}

pub fn enrolment(secret: &[u8], account: &str) -> anyhow::Result<Enrolment> {
    let totp = totp(secret, account).map_err(|e| anyhow::anyhow!("TOTP: {e}"))?;
    let uri = totp
        .to_url()
        .map_err(|e| anyhow::anyhow!("TOTP URI: {e}"))?;
    let svg = qrcode::QrCode::new(uri.as_bytes())?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    let qr_data_uri = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    );
    let base32 = totp.secret().to_base32();
    let secret_text = base32
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Enrolment {
        secret_text,
        uri,
        qr_data_uri,
    })
}

/// A code as typed: spaces and hyphens dropped. Six digits are a TOTP code;
/// anything else is tried as a recovery code.
pub fn is_totp_code(normalised: &str) -> bool {
    normalised.len() == usize::from(DIGITS) && normalised.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1: the 8-digit codes of the secret
    /// "12345678901234567890"; ours are their last six digits.
    const VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in VECTORS {
            let eight = Builder::new()
                .with_algorithm(Algorithm::SHA1)
                .with_digits(8)
                .with_secret(Secret::from(secret.to_vec()))
                .build()
                .unwrap()
                .generate(time)
                .to_string();
            assert_eq!(eight, expected, "8 digits at {time}");
            assert_eq!(code_at(secret, time).unwrap(), &expected[2..], "at {time}");
            assert_eq!(
                matching_step(secret, &expected[2..], time),
                Some(time / STEP_SECS)
            );
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = new_secret();
        let now = 1_700_000_015;
        let step = now / STEP_SECS;
        for offset in [-1i64, 0, 1] {
            let at = (step as i64 + offset) as u64 * STEP_SECS;
            let code = code_at(&secret, at).unwrap();
            assert_eq!(matching_step(&secret, &code, now), Some(at / STEP_SECS));
        }
        for offset in [-3i64, -2, 2, 3] {
            let at = (step as i64 + offset) as u64 * STEP_SECS;
            let code = code_at(&secret, at).unwrap();
            // A code of a far step may collide with a near one by chance (1 in 10^6).
            if (-1..=1).all(|near| {
                code_at(&secret, (step as i64 + near) as u64 * STEP_SECS).unwrap() != code
            }) {
                assert_eq!(matching_step(&secret, &code, now), None, "offset {offset}");
            }
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "+12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn the_enrolment_shows_the_secret_the_uri_and_an_svg_qr_code() {
        let secret = b"12345678901234567890";
        let shown = enrolment(secret, "ada:admin@example.com").unwrap();
        assert_eq!(
            shown.secret_text.replace(' ', ""),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert!(
            shown
                .uri
                .starts_with("otpauth://totp/useradmin:ada_admin%40example.com?"),
            "{}",
            shown.uri
        );
        assert!(shown.uri.contains("issuer=useradmin"), "{}", shown.uri);
        assert!(shown.qr_data_uri.starts_with("data:image/svg+xml;base64,"));
        let svg = base64::engine::general_purpose::STANDARD
            .decode(shown.qr_data_uri.split_once(',').unwrap().1)
            .unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");
    }

    #[test]
    fn six_digits_are_a_totp_code() {
        assert!(is_totp_code("123456"));
        assert!(!is_totp_code("12345"));
        assert!(!is_totp_code("abcde12345"));
    }
}
